"""Held-out cross-validation: train on some data, test on data the scorer never saw.

Three ways to hold data out (``hybridroute cv --split``):

- ``groups``: subjects (the row ``group``) shuffled with a fixed seed and dealt into
  folds; ``rows``: the same over random parts (test subjects then seen in training);
- ``sources``: each benchmark (the row ``source``) in turn; train on all the others;
- ``pairs``: each (source, model pair) cell in turn; train on rows of *other* sources
  and *other* pairs only, so neither the question texts nor the pair's labels were seen.

A test set is scored per model pair (pairs share prompts, so their curves are not pooled)
and the metrics averaged. Every fold reports the learned recipe (trained on the fold's
training rows only), its blend variants, ``auto`` (the router's default: the recipe where
its gate finds an exam-style prompt, the heuristic mapped onto it elsewhere), the
baselines and the router's scorers, plus a ``group-oracle`` reference that knows each
test subject's true mean gain.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from hybridroute_router.scorers.auto import AutoScorer
from hybridroute_router.scorers.learned import LearnedScorer, ScorerArtifact

from hybridroute_quality import metrics as mx
from hybridroute_quality.datasets import Row
from hybridroute_quality.scoring import examples_from_rows, resolve, similarity_keys
from hybridroute_quality.train import (
    TrainOptions,
    blended_ranks,
    featurize,
    fit_artifact,
    unit_scores,
)

F64 = npt.NDArray[np.float64]
BlendWeights = tuple[float, float]
"""(length weight, heuristic weight) of a learned-scorer blend variant."""
VARIANTS: Mapping[str, BlendWeights] = {
    "learned:model-only": (0.0, 0.0),
    "learned:+length": (0.5, 0.0),
    "learned:+heuristic": (0.0, 0.5),
}


@dataclass(frozen=True, slots=True)
class Fold:
    name: str
    train: list[Row]
    test: list[Row]


def folds_by_group(groups: Sequence[str], n_folds: int, seed: int) -> list[list[str]]:
    names = sorted(set(groups))
    if len(names) < n_folds:
        raise ValueError(f"{len(names)} groups cannot make {n_folds} folds")
    order = np.random.default_rng(seed).permutation(len(names))
    return [sorted(names[i] for i in order[f::n_folds]) for f in range(n_folds)]


def split_rows(rows: Sequence[Row], n_folds: int, seed: int) -> list[Row]:
    """Rows re-grouped into ``n_folds`` random parts: a row-level split, for comparison
    (the test folds then share subjects with the training folds)."""
    order = np.random.default_rng(seed).permutation(len(rows))
    part = np.empty(len(rows), dtype=np.int64)
    part[order] = np.arange(len(rows)) % n_folds
    return [dataclasses.replace(r, group=f"part{part[i]}") for i, r in enumerate(rows)]


def group_folds(rows: Sequence[Row], n_folds: int, seed: int) -> list[Fold]:
    out = []
    for held in folds_by_group([r.group for r in rows], n_folds, seed):
        test_groups = set(held)
        out.append(
            Fold(
                ",".join(held),
                [r for r in rows if r.group not in test_groups],
                [r for r in rows if r.group in test_groups],
            )
        )
    return out


def source_folds(rows: Sequence[Row]) -> list[Fold]:
    """Leave one source out: each source is the test set of a model trained on the rest."""
    sources = sorted({r.source for r in rows})
    if len(sources) < 2:
        raise ValueError(f"leave-one-source-out needs two sources or more, got {sources}")
    return [
        Fold(s, [r for r in rows if r.source != s], [r for r in rows if r.source == s])
        for s in sources
    ]


def pair_folds(rows: Sequence[Row]) -> list[Fold]:
    """Leave one (source, pair) cell out; train on other sources *and* other pairs."""
    cells = sorted({(r.source, r.pair) for r in rows})
    if len({p for _, p in cells}) < 2 or len({s for s, _ in cells}) < 2:
        raise ValueError("leave-one-pair-out needs two sources and two model pairs or more")
    out = []
    for source, pair in cells:
        train = [r for r in rows if r.source != source and r.pair != pair]
        test = [r for r in rows if r.source == source and r.pair == pair]
        if train:
            out.append(Fold(f"{source} | {pair}", train, test))
    return out


def _group_oracle(test: Sequence[Row]) -> F64:
    gains: dict[str, list[float]] = {}
    for r in test:
        gains.setdefault(r.group, []).append(r.large - r.small)
    mean = {g: float(np.mean(v)) for g, v in gains.items()}
    return np.asarray([mean[r.group] for r in test], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Cell:
    """One held-out (source, pair): its rows' labels and every scorer's keys."""

    source: str
    pair: str
    small: F64
    large: F64
    keys: dict[str, F64]
    calibration: dict[str, float]
    """Mean predicted P(small fails) of the recipe vs the realised rate, and shares."""

    def summary(self, name: str) -> mx.Summary | None:
        q_small, q_large = float(self.small.mean()), float(self.large.mean())
        if q_small == q_large:
            return None
        return mx.summarize(
            mx.quality_curve(self.keys[name], self.small, self.large), q_small, q_large
        )


@dataclass(frozen=True, slots=True)
class FoldResult:
    name: str
    n_test: int
    cells: list[Cell]
    test_groups: list[str]


KeyFn = Callable[[Sequence[Row]], F64]


def _by_prompt(fn: KeyFn, rows: Sequence[Row]) -> F64:
    """Keys of prompt-only scorers, computed once per distinct prompt."""
    index: dict[str, int] = {}
    unique: list[Row] = []
    for r in rows:
        if r.prompt not in index:
            index[r.prompt] = len(unique)
            unique.append(r)
    keys = fn(unique)
    return np.asarray([keys[index[r.prompt]] for r in rows], dtype=np.float64)


def auto_keys(art: ScorerArtifact, prompts: Sequence[str], learned: F64) -> F64:
    """The router's ``auto`` scorer over the fold's model: its learned scores where the
    gate finds the prompt in the model's domain, the heuristic mapped onto them elsewhere."""
    auto = AutoScorer(LearnedScorer(art))
    return np.asarray(
        [
            learned[i] if auto.branch(p) == "learned" else auto.score(p)
            for i, p in enumerate(prompts)
        ],
        dtype=np.float64,
    )


def run_fold(
    fold: Fold,
    options: TrainOptions,
    baselines: Sequence[str],
    variants: Mapping[str, BlendWeights] = VARIANTS,
) -> FoldResult:
    """Train the recipe on the fold's training rows; score its test rows with it, its
    blend variants and the baselines, pair by pair."""
    train, test = fold.train, fold.test
    art = fit_artifact(train, featurize([r.prompt for r in train], options), options)
    m = featurize([r.prompt for r in test], options)
    keys: dict[str, F64] = {"learned": unit_scores(art, m)}
    keys["auto"] = auto_keys(art, [r.prompt for r in test], keys["learned"])
    for name, (wl, wh) in variants.items():
        variant = dataclasses.replace(art, length_weight=wl, heuristic_weight=wh)
        keys[name] = blended_ranks(variant, m)
    keys["group-oracle"] = _group_oracle(test)
    for name in baselines:
        fn = (
            similarity_keys(examples_from_rows(train), LearnedScorer(art), show_progress=False)
            if name == "similarity"
            else resolve(name, show_progress=False)
        )
        keys[name] = _by_prompt(fn, test)
    cells = []
    for pair in sorted({r.pair for r in test}):
        idx = np.asarray([i for i, r in enumerate(test) if r.pair == pair])
        small = np.asarray([test[i].small for i in idx], dtype=np.float64)
        large = np.asarray([test[i].large for i in idx], dtype=np.float64)
        p = keys["learned"][idx]
        calibration = {
            "predictedSmallFails": float(p.mean()),
            "realisedSmallFails": float(1.0 - small.mean()),
            "shareAtHalf": float(np.mean(p >= 0.5)),
        }
        cells.append(
            Cell(
                test[int(idx[0])].source,
                pair,
                small,
                large,
                {k: v[idx] for k, v in keys.items()},
                calibration,
            )
        )
    return FoldResult(fold.name, len(test), cells, sorted({r.group for r in test}))


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _aggregate(cells: Sequence[Cell], name: str) -> dict[str, Any]:
    sums = [s for s in (c.summary(name) for c in cells) if s is not None]
    apgrs = [s.apgr for s in sums]
    return {
        "apgr": _mean(apgrs),
        "apgrStd": float(np.std(apgrs)) if apgrs else None,
        "apgrMin": min(apgrs) if apgrs else None,
        "cpt50": _mean([s.cpt50 for s in sums]),
        "cpt80": _mean([s.cpt80 for s in sums]),
    }


def summarize_folds(results: Sequence[FoldResult]) -> dict[str, Any]:
    """Per scorer: the mean over held-out cells, and the same per source and per pair."""
    cells = [c for f in results for c in f.cells]
    names = list(cells[0].keys)
    sources = sorted({c.source for c in cells})
    pairs = sorted({c.pair for c in cells})
    table: dict[str, Any] = {}
    for name in names:
        entry = _aggregate(cells, name)
        entry["perFold"] = [_aggregate(f.cells, name) for f in results]
        entry["perSource"] = {
            s: _aggregate([c for c in cells if c.source == s], name) for s in sources
        }
        entry["perPair"] = {p: _aggregate([c for c in cells if c.pair == p], name) for p in pairs}
        table[name] = entry
    return {
        "folds": [{"name": f.name, "n": f.n_test, "testGroups": f.test_groups} for f in results],
        "calibration": [{"source": c.source, "pair": c.pair, **c.calibration} for c in cells],
        "scorers": table,
    }
