"""Evaluate routing policies on labeled rows: curves, metrics, cost and energy.

Policies:

- pre-routing by a scorer: the top ``k`` scores go to the large model only;
- ``cascade`` (rows with ``small_logprob``): every query asks the small model; the ``k``
  least confident also ask the large model (its cost counts both calls);
- ``composite:<scorer>``: queries go straight to the large model (no small call) where
  the scorer's score range makes the cascade escalate often enough that skipping the
  small call pays: the lower bound of P(escalate | score), estimated from the rows' own
  logprobs (no label) on the other folds, reaches ``1 - small / large`` cost per query
  (:mod:`~hybridroute_quality.preroute`); the rest cascade. The frontier over other cost
  thresholds is reported beside it. A weak pre-router clears no score range, and the
  composite is then the pure cascade.

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
from hybridroute_quality import preroute as pr
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
    preroute: dict[str, float] | None = None
    """Composite only: threshold, pre-routed share, small calls saved."""
    shipped: dict[str, dict[str, float]] | None = None
    """Composite only: cascade and composite at the shipped confidence threshold."""


@dataclass
class Evaluation:
    n: int
    small_quality: float
    large_quality: float
    curves: dict[str, PolicyCurve] = field(default_factory=dict)
    frontier: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    """Composite per scorer: APGR and pre-routed share at other pre-route thresholds."""


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


@dataclass(frozen=True, slots=True)
class CompositeRule:
    """The composite's setting: pre-route where the cross-fitted lower bound of
    P(escalate at ``min_mean_logprob`` | score) reaches ``cost_threshold``."""

    cost_threshold: float
    min_mean_logprob: float


def _at(levels: F64, tau: float, s: F64, lg: F64) -> dict[str, float]:
    large = levels < tau
    return {
        "largeShare": float(large.mean()),
        "quality": float(np.where(large, lg, s).mean()),
    }


def composite(
    scores: F64, logprob: F64, rule: CompositeRule, s: F64, lg: F64, rc: RowCosts
) -> PolicyCurve:
    """The composite policy's curve over confidence thresholds: at each, the rule is
    re-fitted for that threshold (pre-routed sets grow with it), so the composite's
    point at ``tau`` is the cascade's plus the queries pre-routed at ``tau``."""
    entry = pr.crossfit_levels(scores, logprob, rule.cost_threshold)
    levels = mx.composite_levels(logprob, entry)
    tau = rule.min_mean_logprob
    pre = entry < tau
    return PolicyCurve(
        kind="composite",
        quality=mx.quality_curve(mx.cascade_keys(levels), s, lg),
        cost=mx.composite_total(levels, entry, rc.small_cost, rc.large_cost),
        energy=mx.composite_total(levels, entry, rc.small_energy, rc.large_energy),
        # the confidence threshold (minMeanLogprob) of each point, as for the cascade
        thresholds=np.concatenate(([-np.inf], np.sort(levels))),
        preroute={
            "threshold": rule.cost_threshold,
            "minMeanLogprob": tau,
            "preroutedShare": float(pre.mean()),
            "smallCallsSaved": int(pre.sum()),
            "preroutedEscalatedShare": float((logprob[pre] < tau).mean()) if pre.any() else 0.0,
            "preroutedKeptShareOfAll": float((pre & (logprob >= tau)).mean()),
        },
        shipped={"cascade": _at(logprob, tau, s, lg), "composite": _at(levels, tau, s, lg)},
    )


FRONTIER_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def composite_frontier(
    scores: F64, logprob: F64, tau: float, s: F64, lg: F64
) -> list[dict[str, float]]:
    """APGR of the composite and its pre-routed share at ``tau`` for each cost threshold
    of :data:`FRONTIER_THRESHOLDS`."""
    out = []
    q_small, q_large = float(s.mean()), float(lg.mean())
    for t in FRONTIER_THRESHOLDS:
        entry = pr.crossfit_levels(scores, logprob, t)
        curve = mx.quality_curve(mx.cascade_keys(mx.composite_levels(logprob, entry)), s, lg)
        apgr = mx.apgr(curve, q_small, q_large) if q_large != q_small else float("nan")
        share = float((entry < tau).mean())
        out.append({"threshold": t, "preroutedShare": share, "apgr": apgr})
    return out


def shipped_threshold(rc: RowCosts) -> float:
    """The expected-cost pre-route threshold from the configured prices (0.9, an 8B/70B
    price ratio of about 1:10, when no price is configured)."""
    small, large = float(rc.small_cost.sum()), float(rc.large_cost.sum())
    if large <= 0.0:
        return DEFAULT_PREROUTE_THRESHOLD
    return mx.expected_cost_threshold(small, large)


DEFAULT_PREROUTE_THRESHOLD = 0.9
DEFAULT_MIN_MEAN_LOGPROB = -0.4
"""The router policy's default ``confidence.minMeanLogprob``."""


def evaluate(
    rows: Sequence[Row],
    scorers: Mapping[str, KeyFn],
    cost_model: CostModel,
    *,
    preroute_threshold: float | None = None,
    composite_with: str | None = None,
    min_mean_logprob: float = DEFAULT_MIN_MEAN_LOGPROB,
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
        threshold = shipped_threshold(rc) if preroute_threshold is None else preroute_threshold
        if base is not None:
            rule = CompositeRule(threshold, min_mean_logprob)
            out.curves[f"composite:{base}"] = composite(
                keys_by_name[base], logprob, rule, s, lg, rc
            )
            out.frontier[f"composite:{base}"] = composite_frontier(
                keys_by_name[base], logprob, min_mean_logprob, s, lg
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


def latency_saved(pre: dict[str, float], small_ms: float, large_ms: float | None) -> float:
    """Mean time to answer saved per query: a pre-routed query the cascade would have
    escalated skips the small call; one it would have kept waits for the large model
    instead of the small one (``large_ms - small_ms``; no change without ``large_ms``)."""
    kept = pre["preroutedKeptShareOfAll"]
    escalated = pre["preroutedShare"] - kept
    slower = 0.0 if large_ms is None else large_ms - small_ms
    return escalated * small_ms - kept * slower


def report(
    ev: Evaluation,
    cost_model: CostModel,
    *,
    skipped_rows: int = 0,
    small_latency_ms: float = 0.0,
    large_latency_ms: float | None = None,
) -> dict[str, Any]:
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
        if curve.preroute is not None:
            entry["preroute"] = {
                **curve.preroute,
                "latencySavedMsPerQuery": latency_saved(
                    curve.preroute, small_latency_ms, large_latency_ms
                ),
                "atMinMeanLogprob": curve.shipped,
                "frontier": ev.frontier.get(name, []),
            }
        scorers[name] = entry
    return {
        "n": ev.n,
        "skippedRows": skipped_rows,
        "smallQuality": ev.small_quality,
        "largeQuality": ev.large_quality,
        "costModel": cost_model.describe(),
        "scorers": scorers,
    }


def _apgr_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def composite_lines(summary: dict[str, Any], latency_ms: float) -> list[str]:
    """The composites of a :func:`report`, in words: the shipped setting beside the pure
    cascade, and the frontier."""
    lines: list[str] = []
    cascade = summary["scorers"].get("cascade")
    for name, entry in summary["scorers"].items():
        pre = entry.get("preroute")
        if pre is None or cascade is None:
            continue
        latency = f"{pre['latencySavedMsPerQuery']:.1f} ms/query" if latency_ms else "-"
        at = pre["atMinMeanLogprob"]
        lines.append(
            f"\n{name}: pre-route where P(escalate at minMeanLogprob {pre['minMeanLogprob']}"
            f" | score) >= {pre['threshold']:.3f} (lower bound, other folds): "
            f"{pre['preroutedShare']:.1%} pre-routed ({pre['preroutedEscalatedShare']:.0%} of "
            f"them escalated by the cascade), {pre['smallCallsSaved']} small calls saved, "
            f"latency saved {latency}; APGR {_apgr_text(entry['apgr'])} "
            f"vs pure cascade {_apgr_text(cascade['apgr'])}"
        )
        lines.append(
            f"  at minMeanLogprob: cascade {at['cascade']['largeShare']:.1%} large, quality "
            f"{at['cascade']['quality']:.3f}; composite {at['composite']['largeShare']:.1%} "
            f"large, quality {at['composite']['quality']:.3f}"
        )
        lines.append(
            "  frontier: "
            + ", ".join(
                f"{p['threshold']:.2f}: {p['preroutedShare']:.0%} pre-routed, APGR {p['apgr']:.3f}"
                for p in pre["frontier"]
            )
        )
    return lines
