"""The learned complexity scorer: a small model over text features, numpy only.

An artifact is two files side by side: ``NAME.json`` (metadata: format version,
featurizer, training summary) and ``NAME.npz`` (weights). A small tanh layer (or none:
plain logistic heads) feeds two heads estimating the chance that the small and the large
model answer well; the raw score is either their difference (``gain``: the expected
quality gained by asking the large model) or the mean chance that they fail
(``difficulty``, the default since version 2: what carries over across model pairs,
see docs/routing-quality.md). That raw score's rank among the training prompts is blended with
the prompt length's rank and the router's structural heuristic's rank (priors that carry
over across sources) and ranked again (an empirical CDF, ``u`` in [0, 1]).

Version 2 artifacts then map ``u`` to a calibrated probability, fitted on the training
rows: ``P(small model fails) = sigmoid(a * logit(u) + b)`` (``probability`` in the
metadata; ``u`` clipped to [0.001, 0.999]), so
a threshold of 0.5 means "send the query to the large model when the small one more
likely fails than not". Version 1 artifacts return ``u`` itself. An optional
``heuristicProbability`` (same form, fitted on the rank of the structural heuristic's
score) maps the heuristic onto the same scale for the ``auto`` scorer
(:func:`heuristic_probability`); artifacts without it borrow ``probability``.

Featurizers: ``features`` (17 cheap text features), ``hashed`` (plus hashed word
n-grams, a linear term) and ``embedding`` (plus MiniLM sentence embeddings; needs
onnxruntime, see :mod:`.embedding`). :func:`load_default` returns the shipped default
(``features``, 16 hidden units), trained on RouteLLM's MMLU outcomes; it needs no model
file and no onnxruntime (see docs/routing-quality.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from hybridroute_policy import Policy

from hybridroute_router.decision.complexity import structural_score
from hybridroute_router.decision.features import text_features as request_features
from hybridroute_router.scorers.embedding import MiniLMEmbedder
from hybridroute_router.scorers.features import FEATURE_NAMES, text_features
from hybridroute_router.scorers.hashed import hashed_ngrams

FORMAT = "hybridroute.learned-scorer"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_ARTIFACT = "default-scorer"

Featurizer = Literal["hashed", "embedding", "features"]
RawKind = Literal["gain", "difficulty"]
F32 = npt.NDArray[np.floating[Any]]
"""Float arrays: float32 on disk, float64 in memory (training and router compute alike)."""


class ArtifactError(ValueError):
    """The artifact files are missing, of another format version, or inconsistent."""


@dataclass(frozen=True)
class ScorerArtifact:
    """Everything a learned scorer needs, as saved on disk."""

    featurizer: Featurizer
    feature_mean: F32
    feature_scale: F32
    dense_weights: F32  # (2, hidden or n_dense): output heads small_ok, large_ok
    bias: F32  # (2,)
    hidden_weights: F32  # (n_dense, hidden): tanh layer; (n_dense, 0) for a linear model
    hidden_bias: F32  # (hidden,)
    hashed_weights: F32  # (2, hash_dim); (2, 0) for the embedding featurizer
    raw_knots: F32  # increasing raw scores at evenly spaced quantiles (training prompts)
    cdf_knots: F32  # increasing blended scores at evenly spaced quantiles
    length_knots: F32  # increasing log1p(prompt chars) at evenly spaced quantiles
    length_weight: float = 0.0
    raw_kind: RawKind = "gain"
    """``gain``: P(large ok) - P(small ok); ``difficulty``: 1 - mean(P(small ok), P(large ok))."""
    heuristic_weight: float = 0.0
    heuristic_knots: F32 = field(default_factory=lambda: np.asarray([0.0, 1.0]))
    """Increasing heuristic scores at evenly spaced quantiles (training prompts)."""
    probability: tuple[float, float] | None = None
    """``(a, b)``: the final score is ``sigmoid(a * logit(u) + b)``, the calibrated probability
    that the small model fails; None (version 1): the final score is ``u``."""
    heuristic_probability: tuple[float, float] | None = None
    """``(a, b)`` fitted the same way on the rank of the structural heuristic's score
    (the ``auto`` scorer's fallback branch); None: the model's ``probability`` is used."""
    hash_dim: int = 0
    max_n: int = 2
    embedding_model: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def n_dense(self) -> int:
        return int(self.hidden_weights.shape[0])

    def logits(self, dense: F32) -> F32:
        """Output logits of one row (1-D) or many (2-D) of dense features."""
        if self.hidden_weights.shape[1]:
            dense = np.tanh(dense @ self.hidden_weights + self.hidden_bias)
        out: F32 = dense @ self.dense_weights.T + self.bias
        return out


def _dense_row(art: ScorerArtifact, prompt: str, embedder: MiniLMEmbedder | None) -> F32:
    mean = art.feature_mean.astype(np.float64)
    feats = (text_features(prompt).astype(np.float64) - mean) / art.feature_scale.astype(np.float64)
    if art.featurizer == "embedding":
        if embedder is None:
            raise ArtifactError("this artifact needs the MiniLM embedder")
        feats = np.concatenate([embedder.embed(prompt).astype(np.float64), feats])
    return feats


def raw_score(art: ScorerArtifact, prompt: str, embedder: MiniLMEmbedder | None = None) -> float:
    """Estimated quality gained by the large model over the small one, in [-1, 1]
    (``gain``), or the mean chance that the two models fail, in [0, 1] (``difficulty``)."""
    z = art.logits(_dense_row(art, prompt, embedder))
    if art.hash_dim:
        sparse = hashed_ngrams(prompt, art.hash_dim, art.max_n)
        z = z + art.hashed_weights[:, sparse.indices] @ sparse.values.astype(np.float64)
    p_small, p_large = 1.0 / (1.0 + np.exp(-z))
    if art.raw_kind == "difficulty":
        return float(1.0 - (p_small + p_large) / 2.0)
    return float(p_large - p_small)


def _rank(knots: F32, value: float) -> float:
    xp = knots.astype(np.float64)
    return float(np.interp(value, xp, np.linspace(0.0, 1.0, knots.size)))


def heuristic_score(prompt: str) -> float:
    """The router's structural heuristic score of a prompt (one user turn)."""
    return structural_score(request_features(prompt))


def blend(art: ScorerArtifact, raw: float, prompt: str) -> float:
    """The model's rank among the training prompts, blended with the ranks of the prompt
    length and of the structural heuristic (priors that carry over across sources)."""
    wl, wh = art.length_weight, art.heuristic_weight
    out = (1.0 - wl - wh) * _rank(art.raw_knots, raw)
    if wl:
        out += wl * _rank(art.length_knots, math.log1p(len(prompt)))
    if wh:
        out += wh * _rank(art.heuristic_knots, heuristic_score(prompt))
    return out


def calibrated(art: ScorerArtifact, unit: float) -> float:
    """``u`` as the calibrated probability that the small model fails (version 2)."""
    if art.probability is None:
        return unit
    a, b = art.probability
    return 1.0 / (1.0 + math.exp(-(a * unit_logit(unit) + b)))


def unit_logit(unit: float) -> float:
    """``logit(u)`` with ``u`` clipped to [0.001, 0.999] (the calibration's input)."""
    u = min(max(unit, 0.001), 0.999)
    return math.log(u / (1.0 - u))


def heuristic_curve(art: ScorerArtifact) -> tuple[F32, F32]:
    """The knots of :func:`heuristic_probability`: the training prompts' heuristic score
    quantiles ``k_i`` paired with the probability calibrated for rank ``i / n`` (the
    artifact's ``heuristic_probability``, else its ``probability``), extended to (0, 0)
    and (1, 1): strictly increasing where the quantiles are."""
    knots = art.heuristic_knots.astype(np.float64)
    fit = art.heuristic_probability or art.probability
    own = dataclasses.replace(art, probability=fit)
    probs = np.asarray([calibrated(own, float(u)) for u in np.linspace(0.0, 1.0, knots.size)])
    xs, ps = [knots], [probs]
    if knots[0] > 0.0:
        xs.insert(0, np.zeros(1))
        ps.insert(0, np.zeros(1))
    if knots[-1] < 1.0:
        xs.append(np.ones(1))
        ps.append(np.ones(1))
    return np.concatenate(xs), np.concatenate(ps)


def heuristic_probability(art: ScorerArtifact, heuristic: float) -> float:
    """A structural heuristic score on the artifact's scale (the ``auto`` scorer's
    fallback): a heuristic score at the training prompts' q-th quantile gets the
    probability calibrated for that rank, linear in between, down to 0 at a score of 0
    and up to 1 at 1. Strictly increasing: it keeps the heuristic's order."""
    xs, ps = heuristic_curve(art)
    return float(np.interp(heuristic, xs, ps))


def to_unit(art: ScorerArtifact, raw: float, prompt: str) -> float:
    """The final score in [0, 1]: the blend's position among the training prompts,
    calibrated to a probability when the artifact says how."""
    return calibrated(art, _rank(art.cdf_knots, blend(art, raw, prompt)))


class LearnedScorer:
    """A :class:`~hybridroute_router.scorers.base.Scorer` over a loaded artifact."""

    def __init__(
        self,
        artifact: ScorerArtifact,
        *,
        name: str = "learned",
        embedder: MiniLMEmbedder | None = None,
    ) -> None:
        if artifact.featurizer == "embedding" and embedder is None:
            embedder = MiniLMEmbedder()
        self.name = name
        self.artifact = artifact
        self._embedder = embedder

    def raw(self, prompt: str) -> float:
        return raw_score(self.artifact, prompt, self._embedder)

    def score(self, prompt: str) -> float:
        return to_unit(self.artifact, self.raw(prompt), prompt)


# -- files ----------------------------------------------------------------------------


def _paths(path: str | Path) -> tuple[Path, Path]:
    base = Path(path)
    if base.suffix in {".json", ".npz"}:
        base = base.with_suffix("")
    return base.with_suffix(".json"), base.with_suffix(".npz")


def save_artifact(art: ScorerArtifact, path: str | Path) -> tuple[Path, Path]:
    """Write ``PATH.json`` and ``PATH.npz``; returns both paths."""
    meta_path, weights_path = _paths(path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "feature_mean": art.feature_mean,
        "feature_scale": art.feature_scale,
        "dense_weights": art.dense_weights,
        "bias": art.bias,
        "hidden_weights": art.hidden_weights,
        "hidden_bias": art.hidden_bias,
        "hashed_weights": art.hashed_weights,
        "raw_knots": art.raw_knots,
        "cdf_knots": art.cdf_knots,
        "length_knots": art.length_knots,
        "heuristic_knots": art.heuristic_knots,
    }
    with weights_path.open("wb") as handle:
        np.savez_compressed(
            handle, allow_pickle=False, **{k: v.astype(np.float32) for k, v in arrays.items()}
        )
    meta = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "featurizer": art.featurizer,
        "featureNames": list(FEATURE_NAMES),
        "hashDim": art.hash_dim,
        "maxN": art.max_n,
        "lengthWeight": art.length_weight,
        "heuristicWeight": art.heuristic_weight,
        "rawScore": art.raw_kind,
        "probability": (
            None
            if art.probability is None
            else {"target": "small_fails", "a": art.probability[0], "b": art.probability[1]}
        ),
        **(
            {}
            if art.heuristic_probability is None
            else {
                "heuristicProbability": {
                    "target": "small_fails",
                    "a": art.heuristic_probability[0],
                    "b": art.heuristic_probability[1],
                }
            }
        ),
        "embeddingModel": art.embedding_model,
        "weightsSha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
        **dict(art.metadata),
    }
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return meta_path, weights_path


def _parse(meta: Mapping[str, Any], arrays: Mapping[str, F32], source: str) -> ScorerArtifact:
    if meta.get("format") != FORMAT or meta.get("formatVersion") not in READABLE_VERSIONS:
        raise ArtifactError(
            f"{source}: not a {FORMAT} v1 or v2 artifact "
            f"(format={meta.get('format')!r}, version={meta.get('formatVersion')!r})"
        )
    if list(meta.get("featureNames", [])) != list(FEATURE_NAMES):
        raise ArtifactError(f"{source}: trained with other text features than this router's")
    featurizer = meta.get("featurizer")
    if featurizer not in ("hashed", "embedding", "features"):
        raise ArtifactError(f"{source}: unknown featurizer {featurizer!r}")
    expected_dense = len(FEATURE_NAMES) + (384 if featurizer == "embedding" else 0)
    missing = [k for k in _ARRAYS if k not in arrays]
    if missing:
        raise ArtifactError(f"{source}: weights file lacks {', '.join(missing)}")
    art = ScorerArtifact(
        featurizer=featurizer,
        feature_mean=arrays["feature_mean"],
        feature_scale=arrays["feature_scale"],
        dense_weights=arrays["dense_weights"],
        bias=arrays["bias"],
        hidden_weights=arrays["hidden_weights"],
        hidden_bias=arrays["hidden_bias"],
        hashed_weights=arrays["hashed_weights"],
        raw_knots=arrays["raw_knots"],
        cdf_knots=arrays["cdf_knots"],
        length_knots=arrays["length_knots"],
        length_weight=float(meta.get("lengthWeight", 0.0)),
        heuristic_weight=float(meta.get("heuristicWeight", 0.0)),
        raw_kind=_raw_kind(meta.get("rawScore", "gain"), source),
        heuristic_knots=arrays.get("heuristic_knots", np.asarray([0.0, 1.0])),
        probability=_probability(meta.get("probability"), source),
        heuristic_probability=_probability(
            meta.get("heuristicProbability"), source, key="heuristicProbability"
        ),
        hash_dim=int(meta.get("hashDim", 0)),
        max_n=int(meta.get("maxN", 2)),
        embedding_model=meta.get("embeddingModel"),
        metadata={k: v for k, v in meta.items() if k in ("training", "evaluation", "name")},
    )
    hidden = art.hidden_weights.shape[1] if art.hidden_weights.ndim == 2 else -1
    shapes_ok = (
        art.hidden_weights.shape == (expected_dense, hidden)
        and art.hidden_bias.shape == (hidden,)
        and art.dense_weights.shape == (2, hidden or expected_dense)
        and art.bias.shape == (2,)
        and art.hashed_weights.shape == (2, art.hash_dim)
    )
    if not shapes_ok:
        raise ArtifactError(f"{source}: weight shapes do not match the metadata")
    weights = (art.length_weight, art.heuristic_weight)
    if min(weights) < 0.0 or sum(weights) > 1.0:
        raise ArtifactError(f"{source}: length and heuristic weights must be >= 0, sum <= 1")
    knots = (art.raw_knots, art.cdf_knots, art.length_knots, art.heuristic_knots)
    if any(k.size < 2 or np.any(np.diff(k) < 0) for k in knots):
        raise ArtifactError(f"{source}: score calibration knots are not increasing")
    return art


def _raw_kind(raw: object, source: str) -> RawKind:
    if raw == "gain":
        return "gain"
    if raw == "difficulty":
        return "difficulty"
    raise ArtifactError(f"{source}: unknown rawScore {raw!r} (gain or difficulty)")


def _probability(raw: object, source: str, key: str = "probability") -> tuple[float, float] | None:
    if raw is None:
        return None
    ok = isinstance(raw, dict) and raw.get("target") == "small_fails"
    values = [raw.get(k) for k in ("a", "b")] if isinstance(raw, dict) else []
    if not ok or not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise ArtifactError(f"{source}: '{key}' must be {{target: small_fails, a, b}}")
    return float(values[0]), float(values[1])  # type: ignore[arg-type]


_ARRAYS = (
    "feature_mean",
    "feature_scale",
    "dense_weights",
    "bias",
    "hidden_weights",
    "hidden_bias",
    "hashed_weights",
    "raw_knots",
    "cdf_knots",
    "length_knots",
)


def _read_arrays(data: bytes) -> dict[str, F32]:
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        # float32 on disk, float64 in memory: the same arithmetic as at training time
        return {k: stored[k].astype(np.float32).astype(np.float64) for k in stored.files}


def _check_sha(meta: Mapping[str, Any], data: bytes, source: str) -> None:
    expected = meta.get("weightsSha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise ArtifactError(f"{source}: weights file does not match its metadata checksum")


def load_artifact(path: str | Path) -> ScorerArtifact:
    """Read an artifact written by :func:`save_artifact` (``PATH``, ``PATH.json`` or
    ``PATH.npz``)."""
    meta_path, weights_path = _paths(path)
    if not meta_path.is_file() or not weights_path.is_file():
        raise ArtifactError(f"{meta_path} and {weights_path} must both exist")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    data = weights_path.read_bytes()
    _check_sha(meta, data, str(meta_path))
    return _parse(meta, _read_arrays(data), str(meta_path))


def load_scorer(path: str | Path, *, name: str = "learned") -> LearnedScorer:
    """A scorer over an artifact on disk (``policy.complexity.scorerArtifact``)."""
    return LearnedScorer(load_artifact(path), name=name)


def default_artifact() -> ScorerArtifact:
    """The artifact shipped inside this package."""
    folder = resources.files("hybridroute_router.scorers")
    meta = json.loads((folder / f"{DEFAULT_ARTIFACT}.json").read_text(encoding="utf-8"))
    data = (folder / f"{DEFAULT_ARTIFACT}.npz").read_bytes()
    _check_sha(meta, data, DEFAULT_ARTIFACT)
    return _parse(meta, _read_arrays(data), DEFAULT_ARTIFACT)


def load_default() -> LearnedScorer:
    """The shipped default learned scorer (text features only: no onnxruntime needed)."""
    return LearnedScorer(default_artifact(), name="learned")


def from_policy(policy: Policy) -> LearnedScorer:
    """The registry's hook: ``policy.complexity.scorerArtifact`` or the shipped default."""
    path = policy.complexity.scorer_artifact
    return load_scorer(path) if path else load_default()
