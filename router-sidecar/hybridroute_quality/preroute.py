"""Where pre-routing pays, calibrated on the deployment's own cascade (pure, numpy only).

With a confidence cascade every query first costs a small call; the least confident
also cost a large one. Pre-routing a query (straight to the large model) costs ``c_l``;
cascading it costs ``c_s + P(escalate) c_l``. Skipping the small call pays iff
``P(escalate | score) > 1 - c_s / c_l``, and a query the cascade would have escalated
anyway gets the same large answer: quality is unchanged up to the calibration error.

``P(escalate | score)`` needs no correctness label: every cascaded query shows whether
its confidence fell below the threshold (its mean logprob, or the router's escalation).
The pre-router's scores are cut into quantile bins of at least ``min_count`` queries; a
bin *clears* when the one-sided Wilson lower bound of its escalation rate reaches the
cost threshold, and pre-routing starts at the lowest bin from which every bin up to the
top clears (one threshold on the score, as the router applies it). A weak score clears
no bin: the policy is the pure cascade.

To evaluate the rule on labeled rows without letting a row decide its own fate,
:func:`crossfit_levels` fits it on the other folds and applies it to each held-out fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

MIN_COUNT = 30
"""Fewest queries in a bin for its escalation rate to count."""
MAX_BINS = 20
WILSON_Z = 1.645
"""One-sided 95% lower bound."""
FOLDS = 5


def wilson_lower(successes: npt.ArrayLike, n: npt.ArrayLike, z: float = WILSON_Z) -> F64:
    """Lower Wilson score bound of a rate ``successes / n`` (0 where ``n`` is 0)."""
    k = np.asarray(successes, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    safe = np.maximum(m, 1.0)
    p = k / safe
    z2 = z * z
    centre = p + z2 / (2.0 * safe)
    spread = z * np.sqrt(np.maximum(p * (1.0 - p) / safe + z2 / (4.0 * safe * safe), 0.0))
    return np.asarray(np.where(m > 0, (centre - spread) / (1.0 + z2 / safe), 0.0))


def min_escalations(n: int, threshold: float, z: float = WILSON_Z) -> int | None:
    """Fewest escalations out of ``n`` whose Wilson lower bound reaches ``threshold``
    (None: not even ``n`` of ``n`` do)."""
    if n <= 0:
        return None
    lower = wilson_lower(np.arange(n + 1), np.full(n + 1, n), z)
    hits = np.flatnonzero(lower >= threshold)
    return int(hits[0]) if hits.size else None


@dataclass(frozen=True, slots=True)
class BinFit:
    """The rule fitted on one set of queries.

    A query of bin ``b`` (``searchsorted(edges, score, side="right")``) is pre-routed at
    escalation threshold ``tau`` (escalate when ``level < tau``) iff ``entry[b] < tau``.
    """

    edges: F64
    """Inner bin edges (scores); bin ``b`` holds ``edges[b-1] <= score < edges[b]``."""
    entry: F64
    """Per bin: the lowest level from which it and every bin above it clear (inf: never)."""
    counts: npt.NDArray[np.int64]

    def bins(self, scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
        s = np.asarray(scores, dtype=np.float64)
        return np.asarray(np.searchsorted(self.edges, s, side="right"), dtype=np.int64)

    def levels(self, scores: npt.ArrayLike) -> F64:
        """Each score's pre-routing level: pre-routed at ``tau`` iff level < ``tau``."""
        return np.asarray(self.entry[self.bins(scores)], dtype=np.float64)

    def start(self, tau: float) -> float | None:
        """The score from which queries are pre-routed at ``tau`` (None: none are)."""
        cleared = np.flatnonzero(self.entry < tau)
        if cleared.size == 0:
            return None
        b = int(cleared[0])
        return float("-inf") if b == 0 else float(self.edges[b - 1])


def _edges(scores: F64, max_bins: int, min_count: int) -> F64:
    s = np.sort(scores)
    nbins = max(1, min(max_bins, s.size // max(min_count, 1)))
    cuts = [s[(s.size * j) // nbins] for j in range(1, nbins)]
    return np.unique(np.asarray(cuts, dtype=np.float64))


def fit(
    scores: npt.ArrayLike,
    levels: npt.ArrayLike,
    threshold: float,
    *,
    min_count: int = MIN_COUNT,
    max_bins: int = MAX_BINS,
    z: float = WILSON_Z,
) -> BinFit:
    """Fit the rule on queries with a pre-router ``score`` and an escalation ``level``
    each (the cascade escalates a query when its level is below the confidence
    threshold: its mean logprob). ``threshold`` is the cost threshold ``1 - c_s / c_l``."""
    s = np.asarray(scores, dtype=np.float64)
    lv = np.asarray(levels, dtype=np.float64)
    if s.shape != lv.shape or s.ndim != 1:
        raise ValueError("scores and levels must be 1-D arrays of the same length")
    if s.size == 0:
        raise ValueError("no queries to fit the pre-routing rule on")
    edges = _edges(s, max_bins, min_count)
    which = np.searchsorted(edges, s, side="right")
    nb = edges.size + 1
    own = np.full(nb, np.inf)
    counts = np.bincount(which, minlength=nb).astype(np.int64)
    for b in range(nb):
        need = min_escalations(int(counts[b]), threshold, z) if counts[b] >= min_count else None
        if need is not None and threshold < 1.0:
            # escalated at tau iff level < tau: ``need`` of them once tau passes this
            own[b] = np.sort(lv[which == b])[need - 1] if need > 0 else -np.inf
    # a bin pre-routes only with every bin above it: the running max from the top
    entry = np.maximum.accumulate(own[::-1])[::-1]
    return BinFit(edges=edges, entry=entry, counts=counts)


def fold_ids(n: int, folds: int = FOLDS, seed: int = 0) -> npt.NDArray[np.int64]:
    """Fold of each row: a seeded permutation, independent of the rows' values."""
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty(n, dtype=np.int64)
    out[order] = np.arange(n) % max(1, min(folds, n))
    return out


def crossfit_levels(
    scores: npt.ArrayLike,
    levels: npt.ArrayLike,
    threshold: float,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    min_count: int = MIN_COUNT,
) -> F64:
    """Each row's pre-routing level (see :meth:`BinFit.levels`) from the rule fitted on
    the other folds only: no row's own escalation decides its pre-routing."""
    s = np.asarray(scores, dtype=np.float64)
    lv = np.asarray(levels, dtype=np.float64)
    out = np.full(s.size, np.inf)
    ids = fold_ids(s.size, folds, seed)
    for f in np.unique(ids):
        held, rest = ids == f, ids != f
        if not rest.any():
            continue
        out[held] = fit(s[rest], lv[rest], threshold, min_count=min_count).levels(s[held])
    return out


@dataclass(frozen=True, slots=True)
class LogCalibration:
    """The complexity threshold from which pre-routing pays, from decision logs."""

    threshold: float | None
    """None: no score range escalates often enough; keep the pure cascade."""
    cost_threshold: float
    cascaded: int
    escalated: int
    preroute_share: float
    """Share of the logged cascaded queries at or above the threshold."""
    preroute_escalation_rate: float
    """How often the cascade escalated those."""


def from_escalations(
    scores: npt.ArrayLike,
    escalated: npt.ArrayLike,
    cost_threshold: float,
    *,
    min_count: int = MIN_COUNT,
) -> LogCalibration:
    """The rule on logged cascaded queries: their scores and whether each escalated."""
    s = np.asarray(scores, dtype=np.float64)
    esc = np.asarray(escalated, dtype=bool)
    if s.size == 0:
        raise ValueError("no cascaded queries to calibrate on")
    # escalated = level 0 below tau 0.5; not escalated = level 1
    rule = fit(s, np.where(esc, 0.0, 1.0), cost_threshold, min_count=min_count)
    start = rule.start(0.5)
    above = np.zeros(s.size, dtype=bool) if start is None else s >= start
    return LogCalibration(
        threshold=None if start is None else max(float(start), 0.0),
        cost_threshold=cost_threshold,
        cascaded=int(s.size),
        escalated=int(esc.sum()),
        preroute_share=float(above.mean()),
        preroute_escalation_rate=float(esc[above].mean()) if above.any() else 0.0,
    )
