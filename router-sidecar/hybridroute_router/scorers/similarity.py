"""Similarity scorer: nearest neighbours among user-curated "simple" and "hard" examples.

The prompt is embedded and compared (cosine) with the examples of
``policy.similarity.examples``; the similarity-weighted share of "hard" among the ``k``
nearest is the similarity score. The final score blends it with the learned scorer:
``weight * knn + (1 - weight) * learned`` (so a prompt unlike any example still gets a
sensible score). No examples: the learned score alone.

Embeddings: all-MiniLM-L6-v2 (int8 ONNX) when onnxruntime and the model packages are
installed, else hashed word n-grams (lexical similarity only). Set
``HYBRIDROUTE_EMBEDDINGS=hashed`` to force the cheap one (MiniLM costs ~30 ms per query
on one core, see docs/routing-quality.md). Example vectors are cached in the process's
embedder, so re-loading a policy with the same examples does not embed them again.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from hybridroute_policy import Policy

from hybridroute_router.scorers.base import Scorer
from hybridroute_router.scorers.embedding import MiniLMEmbedder, embedding_available
from hybridroute_router.scorers.hashed import hashed_dense

F32 = npt.NDArray[np.float32]
Label = Literal["simple", "hard"]
Embed = Callable[[str], F32]


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: Label


class SimilarityScorer:
    """A :class:`~hybridroute_router.scorers.base.Scorer` over labeled examples."""

    name = "similarity"

    def __init__(
        self,
        examples: Sequence[Example],
        embed: Embed,
        *,
        k: int = 5,
        weight: float = 0.5,
        base: Scorer | None = None,
        embedding: str = "custom",
    ) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self._embed = embed
        self._k = k
        self._weight = weight if base is not None else 1.0
        self._base = base
        self.embedding = embedding
        self._hard = np.asarray([e.label == "hard" for e in examples], dtype=np.float64)
        vectors = [embed(e.text) for e in examples]
        self._matrix: F32 = (
            np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 1), dtype=np.float32)
        )

    def knn_score(self, prompt: str) -> float | None:
        """Similarity-weighted share of "hard" among the nearest examples (None: none)."""
        if self._hard.size == 0:
            return None
        sims = self._matrix @ self._embed(prompt)
        k = min(self._k, sims.size)
        nearest = np.argpartition(-sims, k - 1)[:k]
        weights = np.clip(sims[nearest].astype(np.float64), 1e-6, None)
        return float(np.dot(weights, self._hard[nearest]) / weights.sum())

    def score(self, prompt: str) -> float:
        knn = self.knn_score(prompt)
        base = self._base.score(prompt) if self._base is not None else 0.5
        if knn is None:
            return base
        return float(min(1.0, max(0.0, self._weight * knn + (1.0 - self._weight) * base)))


@functools.cache
def shared_embedder() -> MiniLMEmbedder:
    """One MiniLM embedder per process: its cache outlives policy reloads."""
    return MiniLMEmbedder(cache_size=8192)


def choose_embedding() -> tuple[str, Embed]:
    """MiniLM when available and not disabled, else hashed n-grams."""
    wanted = os.environ.get("HYBRIDROUTE_EMBEDDINGS", "auto")
    if wanted != "hashed" and embedding_available():
        embedder = shared_embedder()
        return embedder.model_id, embedder.embed
    return "hashed-ngrams-512", hashed_dense


def from_policy(policy: Policy) -> SimilarityScorer:
    """The registry's hook: examples, k and weight from ``policy.similarity``, blended with
    the learned scorer."""
    from hybridroute_router.scorers.learned import from_policy as learned_from_policy

    name, embed = choose_embedding()
    sim = policy.similarity
    return SimilarityScorer(
        [Example(e.text, e.label) for e in sim.examples],
        embed,
        k=sim.k,
        weight=sim.weight,
        base=learned_from_policy(policy),
        embedding=name,
    )
