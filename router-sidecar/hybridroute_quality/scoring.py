"""Scorers by name for the offline tools: baselines, the router's scorers, artifacts.

Each resolves to a function ``rows -> keys`` (higher = send to the large model first):

- ``random``: a constant, i.e. the expectation over random orders (APGR exactly 0.5);
- ``oracle``: the true gain ``large - small`` (an upper bound, not a router);
- ``token-length``: the prompt's token count (``prompt_tokens`` or chars / 4);
- ``default``: the shipped default learned scorer, as the router loads it;
- ``heuristic``: the router's structural heuristic scorer;
- ``learned``: the same as ``default`` (the router's name for it);
- ``auto``: the router's default scorer: ``default`` on exam-style questions, the
  heuristic mapped onto its scale on the rest (``hybridroute_router.scorers.auto``);
- ``auto:ARTIFACT``: the same with a trained artifact as its learned part (the router's
  ``scorer: auto`` with ``scorerArtifact``);
- ``similarity:EXAMPLES``: the router's similarity scorer over the examples of a file
  (``{"text", "label": "simple"|"hard"}`` lines, or labeled rows: ``hard`` where the
  large model did better), blended half and half with the default, as the router does;
- a path to an artifact written by ``hybridroute train``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from hybridroute_router.scorers.base import Scorer
from hybridroute_router.scorers.similarity import Example

from hybridroute_quality.datasets import Row
from hybridroute_quality.progress import progress

if TYPE_CHECKING:
    from hybridroute_router.scorers.learned import LearnedScorer

KeyFn = Callable[[Sequence[Row]], npt.NDArray[np.float64]]
BASELINES = ("random", "oracle", "token-length")
DEFAULT_SCORERS = ("random", "oracle", "token-length", "heuristic", "default", "auto")
ROUTER_SCORERS = ("auto", "auto:ARTIFACT", "heuristic", "learned", "similarity:EXAMPLES")
MAX_EXAMPLES = 2000
"""As many examples as a policy may hold (``policy.similarity.examples``)."""


def prompt_tokens(row: Row) -> int:
    if row.prompt_tokens is not None:
        return row.prompt_tokens
    return max(1, math.ceil(len(row.prompt) / 4))


def _random(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    return np.zeros(len(rows))


def _oracle(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    return np.asarray([r.large - r.small for r in rows], dtype=np.float64)


def _length(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
    return np.asarray([prompt_tokens(r) for r in rows], dtype=np.float64)


def scorer_keys(scorer: Scorer, *, show_progress: bool = True) -> KeyFn:
    def keys(rows: Sequence[Row]) -> npt.NDArray[np.float64]:
        items = progress(rows, desc=f"scoring {scorer.name}", enabled=show_progress)
        return np.asarray([scorer.score(r.prompt) for r in items], dtype=np.float64)

    return keys


def resolve(name: str, *, show_progress: bool = True) -> KeyFn:
    """The key function of a scorer name or artifact path; ``ValueError`` if unknown."""
    if name == "random":
        return _random
    if name == "oracle":
        return _oracle
    if name == "token-length":
        return _length
    if name.startswith("similarity:"):
        return similarity_keys(
            read_examples(Path(name.split(":", 1)[1])), None, show_progress=show_progress
        )
    if name in ("default", "learned"):
        from hybridroute_router.scorers.learned import load_default

        return scorer_keys(load_default(), show_progress=show_progress)
    if name == "auto" or name.startswith("auto:"):
        from hybridroute_router.scorers.auto import AutoScorer
        from hybridroute_router.scorers.learned import load_default

        learned = load_default() if name == "auto" else _artifact(name.split(":", 1)[1])
        return scorer_keys(AutoScorer(learned), show_progress=show_progress)
    if name == "heuristic":
        from hybridroute_router.scorers.heuristic import HeuristicScorer

        return scorer_keys(HeuristicScorer(), show_progress=show_progress)
    if Path(name).with_suffix(".json").is_file():
        return scorer_keys(_artifact(name), show_progress=show_progress)
    raise ValueError(
        f"unknown scorer {name!r}: use one of {', '.join(DEFAULT_SCORERS)}, "
        f"{', '.join(ROUTER_SCORERS)} or the path of a trained artifact (.json)"
    )


def _artifact(name: str) -> LearnedScorer:
    """A trained artifact (``hybridroute train``) by path, with or without ``.json``."""
    from hybridroute_router.scorers.learned import load_scorer

    if not name:
        raise ValueError("auto:ARTIFACT needs the path of a trained artifact after 'auto:'")
    path = Path(name)
    if not path.with_suffix(".json").is_file():
        raise ValueError(f"no scorer artifact at {path.with_suffix('.json')}")
    return load_scorer(path, name=path.stem)


def examples_from_rows(rows: Sequence[Row], seed: int = 0) -> list[Example]:
    """Labeled rows as similarity examples (``hard``: the large model did better), at most
    :data:`MAX_EXAMPLES`, sampled with a fixed seed."""
    order = np.random.default_rng(seed).permutation(len(rows))[:MAX_EXAMPLES]
    return [
        Example(rows[i].prompt, "hard" if rows[i].large > rows[i].small else "simple")
        for i in sorted(order)
    ]


def read_examples(path: Path) -> list[Example]:
    """Examples from a file: ``{"text", "label"}`` JSONL lines, or labeled DATA."""
    from hybridroute_quality.datasets import load

    if path.suffix == ".jsonl" and path.is_file():
        lines = [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        if lines and all(isinstance(o, dict) and "text" in o for o in lines):
            out = []
            for number, o in enumerate(lines, start=1):
                if o.get("label") not in ("simple", "hard") or not isinstance(o["text"], str):
                    raise ValueError(f"{path}:{number}: needs 'text' and 'label' simple|hard")
                out.append(Example(o["text"], o["label"]))
            return out
    rows = load([path]).rows
    if not rows:
        raise ValueError(f"{path}: no examples")
    return examples_from_rows(rows)


def similarity_keys(
    examples: Sequence[Example], base: Scorer | None, *, show_progress: bool = True
) -> KeyFn:
    """The router's similarity scorer (policy defaults k = 5, weight 0.5) over
    ``examples``, blended with ``base`` (the shipped default when None)."""
    from hybridroute_router.scorers.learned import load_default
    from hybridroute_router.scorers.similarity import SimilarityScorer, choose_embedding

    embedding, embed = choose_embedding()
    scorer = SimilarityScorer(
        examples, embed, k=5, weight=0.5, base=base or load_default(), embedding=embedding
    )
    return scorer_keys(scorer, show_progress=show_progress)
