"""Group-held-out cross-validation: train on some subjects, test on the others.

Subjects (the row ``group``) are shuffled with a fixed seed and dealt into folds; every
fold's scorer is trained on the other folds only. The report gives APGR and CPT per fold
and their mean, for the trained scorer, the baselines, the router's heuristic, and a
``group-oracle`` reference that knows each test subject's true mean gain (the ceiling of
what a router learns by recognising the subject alone).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hybridroute_quality import metrics as mx
from hybridroute_quality.datasets import Row
from hybridroute_quality.scoring import resolve
from hybridroute_quality.train import TrainOptions, featurize, fit_artifact, unit_scores

F64 = npt.NDArray[np.float64]


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


def _group_oracle(test: Sequence[Row]) -> F64:
    gains: dict[str, list[float]] = {}
    for r in test:
        gains.setdefault(r.group, []).append(r.large - r.small)
    mean = {g: float(np.mean(v)) for g, v in gains.items()}
    return np.asarray([mean[r.group] for r in test], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class FoldResult:
    test_groups: list[str]
    n_test: int
    metrics: dict[str, mx.Summary]
    keys: dict[str, F64]
    small: F64
    large: F64


def run_fold(
    rows: Sequence[Row], test_groups: Sequence[str], options: TrainOptions, baselines: Sequence[str]
) -> FoldResult:
    held = set(test_groups)
    train = [r for r in rows if r.group not in held]
    test = [r for r in rows if r.group in held]
    art = fit_artifact(train, featurize([r.prompt for r in train], options), options)
    keys = {
        "learned": unit_scores(art, featurize([r.prompt for r in test], options)),
        "group-oracle": _group_oracle(test),
    }
    for name in baselines:
        keys[name] = resolve(name, show_progress=False)(test)
    s = np.asarray([r.small for r in test])
    lg = np.asarray([r.large for r in test])
    summaries = {
        name: mx.summarize(mx.quality_curve(k, s, lg), float(s.mean()), float(lg.mean()))
        for name, k in keys.items()
    }
    return FoldResult(sorted(held), len(test), summaries, keys, s, lg)


def pooled(results: Sequence[FoldResult], name: str) -> mx.Summary:
    """Metrics over all rows at once, each scored by the fold model that did not see its
    group (learned scores are ranks among their training prompts, so they pool)."""
    keys = np.concatenate([f.keys[name] for f in results])
    s = np.concatenate([f.small for f in results])
    lg = np.concatenate([f.large for f in results])
    return mx.summarize(mx.quality_curve(keys, s, lg), float(s.mean()), float(lg.mean()))


def summarize_folds(results: Sequence[FoldResult]) -> dict[str, Any]:
    names = list(results[0].metrics)
    table: dict[str, Any] = {}
    for name in names:
        pool = pooled(results, name)
        per = np.asarray(
            [[f.metrics[name].apgr, f.metrics[name].cpt50, f.metrics[name].cpt80] for f in results]
        )
        table[name] = {
            "apgr": float(per[:, 0].mean()),
            "apgrStd": float(per[:, 0].std()),
            "cpt50": float(per[:, 1].mean()),
            "cpt80": float(per[:, 2].mean()),
            "pooled": {"apgr": pool.apgr, "cpt50": pool.cpt50, "cpt80": pool.cpt80},
            "perFold": [{"apgr": a, "cpt50": b, "cpt80": c} for a, b, c in per.tolist()],
        }
    return {
        "folds": [{"testGroups": f.test_groups, "n": f.n_test} for f in results],
        "scorers": table,
    }
