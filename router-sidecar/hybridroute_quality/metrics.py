"""Routing metrics, pure functions over arrays.

A policy orders the queries by a key (higher = sent to the large model first). Sending
the top ``k`` of ``n`` queries to the large model gives one operating point: large share
``k / n`` and mean quality. The curve over ``k = 0..n`` gives the standard metrics of
RouteLLM (arXiv 2406.18665):

- APGR: ``(AUC_router - q_small) / (q_large - q_small)``, AUC over the large share in
  [0, 1] (trapezoid). A random router scores 0.5.
- CPT(x): the smallest large share whose quality reaches ``q_small + x (q_large - q_small)``
  (linear between operating points).

Equal keys are treated as a random order among themselves (the expectation over tie
breaks), so a constant scorer is exactly the random router.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def cumulative_top(keys: npt.ArrayLike, values: npt.ArrayLike) -> FloatArray:
    """``out[k]`` = sum of ``values`` over the ``k`` highest ``keys`` (``k = 0..n``),
    ties shared out evenly (the expected sum under a random order of equal keys)."""
    key = np.asarray(keys, dtype=np.float64)
    val = np.asarray(values, dtype=np.float64)
    if key.shape != val.shape or key.ndim != 1:
        raise ValueError("keys and values must be 1-D arrays of the same length")
    n = key.size
    order = np.argsort(-key, kind="stable")
    sorted_keys = key[order]
    sorted_vals = val[order]
    # Tie groups [start, end): average the values within each group.
    boundaries = np.flatnonzero(np.diff(sorted_keys) != 0) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [n])) if n else np.zeros(0, dtype=np.int64)
    group_sums = np.add.reduceat(sorted_vals, starts) if n else np.zeros(0)
    means = np.repeat(group_sums / np.maximum(ends - starts, 1), ends - starts)
    return np.concatenate(([0.0], np.cumsum(means))).astype(np.float64)


def quality_curve(keys: npt.ArrayLike, small: npt.ArrayLike, large: npt.ArrayLike) -> FloatArray:
    """Mean quality when the top ``k`` keys go to the large model, ``k = 0..n``."""
    s = np.asarray(small, dtype=np.float64)
    gain = np.asarray(large, dtype=np.float64) - s
    n = max(s.size, 1)
    return np.asarray((s.sum() + cumulative_top(keys, gain)) / n, dtype=np.float64)


def shares(n: int) -> FloatArray:
    return np.linspace(0.0, 1.0, n + 1)


def apgr(curve: npt.ArrayLike, q_small: float, q_large: float) -> float:
    """Average performance gap recovered by a quality curve over evenly spaced shares."""
    q = np.asarray(curve, dtype=np.float64)
    if q.size < 2:
        raise ValueError("a curve needs at least two operating points")
    gap = q_large - q_small
    if gap == 0:
        raise ValueError("the two models have the same quality: APGR is undefined")
    auc = float(np.sum((q[1:] + q[:-1]) / 2.0) / (q.size - 1))
    return (auc - q_small) / gap


def cpt(curve: npt.ArrayLike, q_small: float, q_large: float, x: float) -> float:
    """Call-performance threshold: the large share needed to recover ``x`` of the gap.

    Returns 1.0 when the curve never reaches it."""
    q = np.asarray(curve, dtype=np.float64)
    target = q_small + x * (q_large - q_small)
    n = q.size - 1
    hits = np.flatnonzero(q >= target - 1e-12)
    if hits.size == 0:
        return 1.0
    k = int(hits[0])
    if k == 0:
        return 0.0
    lo, hi = q[k - 1], q[k]
    frac = 1.0 if hi == lo else (target - lo) / (hi - lo)
    return (k - 1 + frac) / n


def value_at_share(curve: npt.ArrayLike, share: float) -> float:
    """A curve (over ``k = 0..n``) read at a large share, linear between points."""
    q = np.asarray(curve, dtype=np.float64)
    return float(np.interp(share, shares(q.size - 1), q))


@dataclass(frozen=True, slots=True)
class Summary:
    apgr: float
    cpt50: float
    cpt80: float


def summarize(curve: npt.ArrayLike, q_small: float, q_large: float) -> Summary:
    return Summary(
        apgr=apgr(curve, q_small, q_large),
        cpt50=cpt(curve, q_small, q_large, 0.5),
        cpt80=cpt(curve, q_small, q_large, 0.8),
    )


# -- cost and energy ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prices:
    """Per-1K-token prices (USD) and energy (joules) of one model, from configuration."""

    input_per_1k: float = 0.0
    output_per_1k: float = 0.0
    joules_per_1k: float = 0.0


def call_cost(
    prompt_tokens: npt.ArrayLike, completion_tokens: npt.ArrayLike, p: Prices
) -> FloatArray:
    pt = np.asarray(prompt_tokens, dtype=np.float64)
    ct = np.asarray(completion_tokens, dtype=np.float64)
    return (pt * p.input_per_1k + ct * p.output_per_1k) / 1000.0


def call_energy(
    prompt_tokens: npt.ArrayLike, completion_tokens: npt.ArrayLike, p: Prices
) -> FloatArray:
    total = np.asarray(prompt_tokens, dtype=np.float64) + np.asarray(
        completion_tokens, dtype=np.float64
    )
    return total * p.joules_per_1k / 1000.0


def preroute_total(
    keys: npt.ArrayLike, small_cost: npt.ArrayLike, large_cost: npt.ArrayLike
) -> FloatArray:
    """Total cost at each operating point when the top ``k`` go to the large model only
    and the rest to the small model only."""
    s = np.asarray(small_cost, dtype=np.float64)
    return np.asarray(s.sum() + cumulative_top(keys, np.asarray(large_cost, dtype=np.float64) - s))


def cascade_total(
    keys: npt.ArrayLike, small_cost: npt.ArrayLike, large_cost: npt.ArrayLike
) -> FloatArray:
    """Total cost at each operating point of a confidence cascade: every query calls the
    small model, the top ``k`` (lowest confidence) call the large model as well."""
    s = np.asarray(small_cost, dtype=np.float64)
    return np.asarray(s.sum() + cumulative_top(keys, np.asarray(large_cost, dtype=np.float64)))


def cascade_keys(small_logprob: npt.ArrayLike) -> FloatArray:
    """Escalation order of a cascade: lowest mean logprob first, as keys in [0, 1)."""
    return 1.0 - np.exp(np.minimum(np.asarray(small_logprob, dtype=np.float64), 0.0))


def expected_cost_threshold(small_cost: float, large_cost: float) -> float:
    """``1 - small / large`` per-query cost (1.0, never pre-route, without prices): a
    cascaded query escalated with probability ``p`` costs ``small + p large``, a
    pre-routed one ``large``, so skipping the small call pays once ``p`` exceeds it."""
    if large_cost <= 0.0 or small_cost < 0.0:
        return 1.0
    return float(min(max(1.0 - small_cost / large_cost, 0.0), 1.0))


def composite_levels(small_logprob: npt.ArrayLike, entry: npt.ArrayLike) -> FloatArray:
    """The composite policy as a cascade over effective levels: a query goes to the large
    model at confidence threshold ``tau`` when its logprob is below ``tau`` (escalated)
    or its pre-routing ``entry`` is (pre-routed, see :mod:`hybridroute_quality.preroute`).
    Order it with :func:`cascade_keys`; with every entry infinite it is the cascade."""
    return np.asarray(
        np.minimum(
            np.asarray(small_logprob, dtype=np.float64), np.asarray(entry, dtype=np.float64)
        ),
        dtype=np.float64,
    )


def composite_total(
    levels: npt.ArrayLike,
    entry: npt.ArrayLike,
    small_cost: npt.ArrayLike,
    large_cost: npt.ArrayLike,
) -> FloatArray:
    """Total cost of the composite policy at each operating point (the ``k`` lowest
    ``levels`` go to the large model): every query pays its large call if sent there and
    its small call unless pre-routed at that point (its ``entry`` within the ``k``-th
    lowest level)."""
    lv = np.asarray(levels, dtype=np.float64)
    en = np.asarray(entry, dtype=np.float64)
    s = np.asarray(small_cost, dtype=np.float64)
    big = np.asarray(large_cost, dtype=np.float64)
    total = s.sum() + cumulative_top(cascade_keys(lv), big)
    by_entry = np.argsort(en, kind="stable")
    saved_upto = np.concatenate(([0.0], np.cumsum(s[by_entry])))
    reached = np.searchsorted(en[by_entry], np.sort(lv), side="right")
    saved = np.concatenate(([0.0], saved_upto[reached]))
    return np.asarray(total - saved, dtype=np.float64)
