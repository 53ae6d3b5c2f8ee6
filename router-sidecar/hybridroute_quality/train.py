"""Train the learned complexity scorer and write its artifact.

Features are computed with the router's own functions (:mod:`hybridroute_router.scorers`),
so the router scores a prompt exactly as training saw it. Two heads (small model answers
well, large model answers well) over a small MLP (:mod:`.mlp`) or as logistic
regressions (:mod:`.linear`); the artifact stores float32 weights, the empirical CDFs of
the training scores, prompt lengths and heuristic scores, and the two numbers that map the
blended rank to the calibrated probability that the small model fails (:func:`platt`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from hybridroute_router.scorers.embedding import MODEL_ID, MiniLMEmbedder
from hybridroute_router.scorers.features import text_features
from hybridroute_router.scorers.hashed import DEFAULT_DIM, hashed_ngrams
from hybridroute_router.scorers.learned import (
    Featurizer,
    RawKind,
    ScorerArtifact,
    heuristic_score,
)

from hybridroute_quality.datasets import Row
from hybridroute_quality.embed_cache import cached_embeddings
from hybridroute_quality.linear import F64, FitOptions, SparseRows, fit_logistic
from hybridroute_quality.mlp import DEFAULT_HIDDEN, MlpOptions, fit_mlp
from hybridroute_quality.progress import progress

CDF_KNOTS = 201


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """Defaults: the shipped default's recipe (text features, 16-unit MLP, length prior)."""

    featurizer: Featurizer = "features"
    hidden: int = DEFAULT_HIDDEN
    """Units of the tanh layer; 0 for two logistic heads."""
    mlp_l2: float = 1e-3
    mlp_epochs: int = 300
    seed: int = 0
    hash_dim: int = DEFAULT_DIM
    max_n: int = 2
    length_weight: float = 0.5
    heuristic_weight: float = 0.0
    raw_kind: RawKind = "difficulty"
    """What the model's raw score estimates (see :mod:`hybridroute_router.scorers.learned`)."""
    calibrate: bool = True
    """Map the final score to P(small model fails) (artifact version 2)."""
    calibrate_min_accuracy: float = 0.4
    """Calibrate on the pairs whose small model answers at least this share of their
    training rows (the small models one deploys); all rows when no pair does."""
    fit: FitOptions = dataclasses.field(default_factory=FitOptions)
    show_progress: bool = True


@dataclass(frozen=True, slots=True)
class Matrices:
    """Unstandardised text features, optional embeddings, optional hashed n-grams."""

    features: F64
    chars: F64
    heuristic: F64
    embeddings: F64 | None
    hashed: SparseRows | None


def featurize(
    prompts: Sequence[str], options: TrainOptions, embedder: MiniLMEmbedder | None = None
) -> Matrices:
    feats = (
        np.stack(
            [
                text_features(p)
                for p in progress(prompts, desc="features", enabled=options.show_progress)
            ]
        ).astype(np.float64)
        if prompts
        else np.zeros((0, 0))
    )
    embeddings: F64 | None = None
    hashed: SparseRows | None = None
    if options.featurizer == "embedding":
        model = embedder or MiniLMEmbedder()
        embeddings = cached_embeddings(
            prompts, model.embed, MODEL_ID, show_progress=options.show_progress
        ).astype(np.float64)
    elif options.featurizer == "hashed":
        hashed = SparseRows.from_vectors(
            [hashed_ngrams(p, options.hash_dim, options.max_n) for p in prompts], options.hash_dim
        )
    chars = np.asarray([len(p) for p in prompts], dtype=np.float64)
    heuristic = np.asarray([heuristic_score(p) for p in prompts], dtype=np.float64)
    return Matrices(feats, chars, heuristic, embeddings, hashed)


def _dense(
    m: Matrices, mean: npt.NDArray[np.floating[Any]], scale: npt.NDArray[np.floating[Any]]
) -> F64:
    standard = np.asarray((m.features - mean) / scale, dtype=np.float64)
    if m.embeddings is not None:
        return np.hstack([m.embeddings, standard])
    return standard


def _f64(art: ScorerArtifact) -> ScorerArtifact:
    """The artifact's float32 weights as float64 (what the router computes with)."""
    cast = {
        f.name: getattr(art, f.name).astype(np.float32).astype(np.float64)
        for f in dataclasses.fields(art)
        if isinstance(getattr(art, f.name), np.ndarray)
    }
    return dataclasses.replace(art, **cast)


def raw_scores(art: ScorerArtifact, m: Matrices) -> F64:
    """Raw scores of many rows at once, from the artifact's (float32) weights."""
    art = _f64(art)
    z = art.logits(_dense(m, art.feature_mean, art.feature_scale))
    if m.hashed is not None and art.hash_dim:
        for head in range(2):
            z[:, head] += m.hashed.matvec(art.hashed_weights[head].astype(np.float64))
    p = 1.0 / (1.0 + np.exp(-z))
    if art.raw_kind == "difficulty":
        return np.asarray(1.0 - (p[:, 0] + p[:, 1]) / 2.0, dtype=np.float64)
    return np.asarray(p[:, 1] - p[:, 0], dtype=np.float64)


def fit_artifact(
    rows: Sequence[Row],
    m: Matrices,
    options: TrainOptions,
    metadata: Mapping[str, Any] | None = None,
) -> ScorerArtifact:
    """Fit both heads on featurised rows and package them.

    Rows sharing a prompt (one per model pair) are merged into one with the mean labels
    (dense featurizers), so a question counts once whatever the number of pairs."""
    first, targets = _merged_targets(rows) if m.hashed is None else _all_targets(rows)
    mean = m.features[first].mean(axis=0)
    scale = m.features[first].std(axis=0) + 1e-6
    dense = _dense(m, mean, scale)[first]
    hidden_w, hidden_b, out_w, out_b, hashed_w = _fit_heads(dense, m.hashed, targets, options)
    f32 = np.float32
    art = ScorerArtifact(
        featurizer=options.featurizer,
        feature_mean=mean.astype(f32),
        feature_scale=scale.astype(f32),
        dense_weights=out_w.astype(f32),
        bias=out_b.astype(f32),
        hidden_weights=hidden_w.astype(f32),
        hidden_bias=hidden_b.astype(f32),
        hashed_weights=hashed_w.astype(f32),
        raw_knots=np.zeros(2, dtype=f32),
        cdf_knots=np.zeros(2, dtype=f32),
        length_knots=np.zeros(2, dtype=f32),
        hash_dim=options.hash_dim if options.featurizer == "hashed" else 0,
        max_n=options.max_n,
        embedding_model=MODEL_ID if options.featurizer == "embedding" else None,
        raw_kind=options.raw_kind,
        metadata=dict(metadata or {}),
    )
    return _calibrate(art, rows, m, first, options)


def _all_targets(rows: Sequence[Row]) -> tuple[npt.NDArray[np.int64], F64]:
    targets = np.asarray([[r.small, r.large] for r in rows], dtype=np.float64)
    return np.arange(len(rows), dtype=np.int64), targets


def _merged_targets(rows: Sequence[Row]) -> tuple[npt.NDArray[np.int64], F64]:
    """Index of each distinct prompt's first row, and its mean (small, large) labels."""
    index: dict[str, int] = {}
    inverse = np.asarray([index.setdefault(r.prompt, len(index)) for r in rows], dtype=np.int64)
    first = np.unique(inverse, return_index=True)[1].astype(np.int64)
    sums = np.zeros((len(index), 2))
    np.add.at(sums, inverse, np.asarray([[r.small, r.large] for r in rows], dtype=np.float64))
    counts = np.bincount(inverse, minlength=len(index)).astype(np.float64)
    return first, sums / counts[:, None]


def _fit_heads(
    dense: F64, hashed: SparseRows | None, targets: F64, options: TrainOptions
) -> tuple[F64, F64, F64, F64, F64]:
    """Hidden weights and bias, output weights and bias, hashed weights."""
    if options.hidden > 0:
        mlp = fit_mlp(
            dense,
            hashed,
            targets,
            MlpOptions(
                hidden=options.hidden,
                l2=options.mlp_l2,
                epochs=options.mlp_epochs,
                seed=options.seed,
            ),
        )
        return mlp.w1, mlp.b1, mlp.w2.T, mlp.b2, mlp.hashed
    heads = [fit_logistic(dense, hashed, targets[:, i], options.fit) for i in range(2)]
    return (
        np.zeros((dense.shape[1], 0)),
        np.zeros(0),
        np.stack([h.dense for h in heads]),
        np.asarray([h.bias for h in heads]),
        np.stack([h.hashed for h in heads]),
    )


def _calibrate(
    art: ScorerArtifact,
    rows: Sequence[Row],
    m: Matrices,
    first: npt.NDArray[np.int64],
    options: TrainOptions,
) -> ScorerArtifact:
    """Quantile knots over the distinct training prompts, then the probability map fitted
    on the rows of the competent pairs."""
    raw = raw_scores(art, m)
    levels = np.linspace(0.0, 1.0, CDF_KNOTS)
    art = dataclasses.replace(
        art,
        raw_knots=_knots(raw[first], levels),
        length_knots=_knots(np.log1p(m.chars[first]), levels),
        heuristic_knots=_knots(m.heuristic[first], levels),
        length_weight=options.length_weight,
        heuristic_weight=options.heuristic_weight,
    )
    art = dataclasses.replace(art, cdf_knots=_knots(_blend(art, raw, m)[first], levels))
    if not options.calibrate:
        return art
    unit = _rank(art.cdf_knots, _blend(art, raw, m))
    small = np.asarray([r.small for r in rows], dtype=np.float64)
    keep = competent_pairs(rows, options.calibrate_min_accuracy)
    fit = platt(_logit(unit[keep]), 1.0 - small[keep])
    # the same fit for the heuristic's rank: the auto scorer's fallback branch
    heuristic_unit = _rank(art.heuristic_knots, m.heuristic)
    heuristic_fit = platt(_logit(heuristic_unit[keep]), 1.0 - small[keep])
    return dataclasses.replace(art, probability=fit, heuristic_probability=heuristic_fit)


def _logit(unit: F64) -> F64:
    u = np.clip(unit, 0.001, 0.999)
    return np.asarray(np.log(u / (1.0 - u)), dtype=np.float64)


def competent_pairs(rows: Sequence[Row], min_accuracy: float) -> npt.NDArray[np.bool_]:
    """Rows of the pairs whose small model's mean quality reaches ``min_accuracy``."""
    totals: dict[str, list[float]] = {}
    for r in rows:
        totals.setdefault(r.pair, []).append(r.small)
    ok = {p for p, v in totals.items() if float(np.mean(v)) >= min_accuracy}
    keep = np.asarray([r.pair in ok for r in rows], dtype=bool)
    return keep if keep.any() else np.ones(len(rows), dtype=bool)


def platt(x: F64, target: F64, iterations: int = 50) -> tuple[float, float]:
    """``(a, b)`` of the logistic fit ``P(target) = sigmoid(a x + b)`` (Newton's method;
    fractional targets allowed): a calibration with two degrees of freedom, so it keeps
    the ranking and cannot overfit."""
    design = np.stack([x, np.ones_like(x)], axis=1)
    ridge = np.diag([1e-3, 1e-6]) * len(x)  # a weak prior: separable data stays finite
    w = np.zeros(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -30.0, 30.0)))
        grad = design.T @ (p - target) + ridge @ w
        hess = design.T @ (design * (p * (1.0 - p))[:, None]) + ridge
        step = np.linalg.solve(hess, grad)
        w = np.clip(w - step, -30.0, 30.0)
        if float(np.abs(step).max()) < 1e-10:
            break
    return float(w[0]), float(w[1])


def _knots(values: F64, levels: F64) -> npt.NDArray[np.float32]:
    knots = np.quantile(values, levels).astype(np.float32)
    return np.maximum.accumulate(knots)


def _rank(knots: npt.NDArray[np.float32], values: F64) -> F64:
    return np.interp(values, knots.astype(np.float64), np.linspace(0.0, 1.0, knots.size))


def _blend(art: ScorerArtifact, raw: F64, m: Matrices) -> F64:
    wl, wh = art.length_weight, art.heuristic_weight
    out = (1.0 - wl - wh) * _rank(art.raw_knots, raw)
    if wl:
        out = out + wl * _rank(art.length_knots, np.log1p(m.chars))
    if wh:
        out = out + wh * _rank(art.heuristic_knots, m.heuristic)
    return np.asarray(out, dtype=np.float64)


def blended_ranks(art: ScorerArtifact, m: Matrices) -> F64:
    """The blend before the final (monotone) maps: the same order as :func:`unit_scores`."""
    return _blend(art, raw_scores(art, m), m)


def unit_scores(art: ScorerArtifact, m: Matrices) -> F64:
    """Final scores in [0, 1] of many rows at once (what the router computes one by one)."""
    unit = _rank(art.cdf_knots, _blend(art, raw_scores(art, m), m))
    if art.probability is None:
        return unit
    a, b = art.probability
    return np.asarray(1.0 / (1.0 + np.exp(-(a * _logit(unit) + b))), dtype=np.float64)


def train(
    rows: Sequence[Row],
    options: TrainOptions,
    *,
    name: str = "learned",
    sources: Sequence[str] = (),
    embedder: MiniLMEmbedder | None = None,
) -> tuple[ScorerArtifact, npt.NDArray[np.float64]]:
    """Train on labeled rows; returns the artifact and the training rows' unit scores
    (what the router will compute for those prompts)."""
    if len(rows) < 10:
        raise ValueError(f"need at least 10 labeled rows to train, got {len(rows)}")
    m = featurize([r.prompt for r in rows], options, embedder)
    metadata = {
        "name": name,
        "training": {
            "rows": len(rows),
            "groups": sorted({r.group for r in rows}),
            "sources": list(sources),
            "createdUtc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "heads": ["small_ok", "large_ok"],
            "model": f"mlp-{options.hidden}" if options.hidden else "logistic",
            "l2": options.mlp_l2 if options.hidden else options.fit.l2,
            "epochs": options.mlp_epochs if options.hidden else options.fit.epochs,
            "lengthWeight": options.length_weight,
            "heuristicWeight": options.heuristic_weight,
            "rawScore": options.raw_kind,
        },
    }
    art = fit_artifact(rows, m, options, metadata)
    return art, unit_scores(art, m)
