"""Evaluate routing policies on labeled rows: curves, metrics, cost and energy.

Policies:

- pre-routing by a scorer: the top ``k`` scores go to the large model only;
- ``cascade`` (rows with ``small_logprob``): every query asks the small model; the ``k``
  least confident also ask the large model (its cost counts both calls);
- ``composite:<scorer>``: the ``preroute_share`` highest scores go straight to the large
  model, the rest cascade.

Prices and energy per 1K tokens come from configuration (CLI flags or a policy file),
never from the data. Missing token counts are estimated: prompt chars / 4, and a
configured completion length.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hybridroute_quality import metrics as mx
from hybridroute_quality.datasets import Row
from hybridroute_quality.scoring import KeyFn, prompt_tokens

F64 = npt.NDArray[np.float64]
REPORT_SHARES = tuple(round(0.1 * i, 1) for i in range(11))


@dataclass(frozen=True, slots=True)
class CostModel:
    small: mx.Prices = field(default_factory=mx.Prices)
    large: mx.Prices = field(default_factory=mx.Prices)
    completion_tokens: int = 128
    """Assumed answer length where rows carry no completion token counts."""

    def describe(self) -> dict[str, Any]:
        def one(p: mx.Prices) -> dict[str, float]:
            return {
                "inputPer1kTokens": p.input_per_1k,
                "outputPer1kTokens": p.output_per_1k,
                "joulesPer1kTokens": p.joules_per_1k,
            }

        return {
            "small": one(self.small),
            "large": one(self.large),
            "assumedCompletionTokens": self.completion_tokens,
        }


@dataclass(frozen=True, slots=True)
class RowCosts:
    small_cost: F64
    large_cost: F64
    small_energy: F64
    large_energy: F64


def row_costs(rows: Sequence[Row], cm: CostModel) -> RowCosts:
    pt = np.asarray([prompt_tokens(r) for r in rows], dtype=np.float64)
    default = cm.completion_tokens
    sc = np.asarray([r.small_completion_tokens or default for r in rows], dtype=np.float64)
    lc = np.asarray([r.large_completion_tokens or default for r in rows], dtype=np.float64)
    return RowCosts(
        small_cost=mx.call_cost(pt, sc, cm.small),
        large_cost=mx.call_cost(pt, lc, cm.large),
        small_energy=mx.call_energy(pt, sc, cm.small),
        large_energy=mx.call_energy(pt, lc, cm.large),
    )


@dataclass(frozen=True)
class PolicyCurve:
    """One policy: quality, total cost and total energy at ``k = 0..n`` large calls."""

    kind: str
    quality: F64
    cost: F64
    energy: F64
    thresholds: F64 | None = None
    """Score threshold at each ``k`` (route to large when score >= it)."""


@dataclass
class Evaluation:
    n: int
    small_quality: float
    large_quality: float
    curves: dict[str, PolicyCurve] = field(default_factory=dict)


def _thresholds(keys: F64) -> F64:
    ordered = np.sort(keys)[::-1]
    return np.concatenate(([np.inf], ordered))


def prerouting(keys: F64, s: F64, lg: F64, rc: RowCosts) -> PolicyCurve:
    return PolicyCurve(
        kind="prerouting",
        quality=mx.quality_curve(keys, s, lg),
        cost=mx.preroute_total(keys, rc.small_cost, rc.large_cost),
        energy=mx.preroute_total(keys, rc.small_energy, rc.large_energy),
        thresholds=_thresholds(keys),
    )


def cascade(logprob: F64, s: F64, lg: F64, rc: RowCosts) -> PolicyCurve:
    keys = mx.cascade_keys(logprob)
    return PolicyCurve(
        kind="cascade",
        quality=mx.quality_curve(keys, s, lg),
        cost=mx.cascade_total(keys, rc.small_cost, rc.large_cost),
        energy=mx.cascade_total(keys, rc.small_energy, rc.large_energy),
        # escalate when the mean logprob is below the threshold
        thresholds=np.concatenate(([-np.inf], np.sort(logprob))),
    )


def composite(
    scores: F64, logprob: F64, share: float, s: F64, lg: F64, rc: RowCosts
) -> PolicyCurve:
    keys, pre = mx.composite_keys(scores, logprob, share)
    return PolicyCurve(
        kind="composite",
        quality=mx.quality_curve(keys, s, lg),
        cost=mx.composite_total(keys, pre, rc.small_cost, rc.large_cost),
        energy=mx.composite_total(keys, pre, rc.small_energy, rc.large_energy),
    )


def evaluate(
    rows: Sequence[Row],
    scorers: Mapping[str, KeyFn],
    cost_model: CostModel,
    *,
    preroute_share: float = 0.2,
    composite_with: str | None = None,
) -> Evaluation:
    """Curves for every scorer, plus cascade and composite when every row has a logprob."""
    if not rows:
        raise ValueError("no rows to evaluate")
    s = np.asarray([r.small for r in rows], dtype=np.float64)
    lg = np.asarray([r.large for r in rows], dtype=np.float64)
    rc = row_costs(rows, cost_model)
    out = Evaluation(n=len(rows), small_quality=float(s.mean()), large_quality=float(lg.mean()))
    keys_by_name: dict[str, F64] = {}
    for name, fn in scorers.items():
        keys_by_name[name] = np.asarray(fn(rows), dtype=np.float64)
        out.curves[name] = prerouting(keys_by_name[name], s, lg, rc)
    if all(r.small_logprob is not None for r in rows):
        logprob = np.asarray([r.small_logprob for r in rows], dtype=np.float64)
        out.curves["cascade"] = cascade(logprob, s, lg, rc)
        base = composite_with or next(
            (
                n
                for n in ("default", *scorers)
                if n in keys_by_name and n not in ("oracle", "random")
            ),
            None,
        )
        if base is not None:
            out.curves[f"composite:{base}"] = composite(
                keys_by_name[base], logprob, preroute_share, s, lg, rc
            )
    return out


def _point(ev: Evaluation, curve: PolicyCurve, share: float) -> dict[str, Any]:
    k = round(share * ev.n)
    all_large = curve.cost[-1] if curve.kind == "prerouting" else None
    point: dict[str, Any] = {
        "largeShare": k / ev.n,
        "quality": float(curve.quality[k]),
        "costPerQuery": float(curve.cost[k] / ev.n),
        "energyJoulesPerQuery": float(curve.energy[k] / ev.n),
    }
    if all_large:
        point["costSavedVsAllLarge"] = float(1.0 - curve.cost[k] / all_large)
    if curve.thresholds is not None:
        t = float(curve.thresholds[k])
        point["threshold"] = t if np.isfinite(t) else None
    return point


def report(ev: Evaluation, cost_model: CostModel, *, skipped_rows: int = 0) -> dict[str, Any]:
    """The JSON summary: ``{"n": rows, "scorers": {NAME: {"apgr", "cpt50", ...}}}``."""
    scorers: dict[str, Any] = {}
    gap = ev.large_quality - ev.small_quality
    for name, curve in ev.curves.items():
        entry: dict[str, Any] = {"kind": curve.kind}
        if gap != 0:
            summ = mx.summarize(curve.quality, ev.small_quality, ev.large_quality)
            entry.update(apgr=summ.apgr, cpt50=summ.cpt50, cpt80=summ.cpt80)
        else:
            entry.update(apgr=None, cpt50=None, cpt80=None)
        entry["operatingPoints"] = [_point(ev, curve, p) for p in REPORT_SHARES]
        scorers[name] = entry
    return {
        "n": ev.n,
        "skippedRows": skipped_rows,
        "smallQuality": ev.small_quality,
        "largeQuality": ev.large_quality,
        "costModel": cost_model.describe(),
        "scorers": scorers,
    }
