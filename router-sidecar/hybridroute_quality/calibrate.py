"""Choose a complexity threshold: pure functions over scores (and labels).

``score >= threshold`` goes to the large model (the router's rule). A threshold is put
halfway between the last score sent to the large model and the next one, so it keeps
its meaning on traffic that is similar but not identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hybridroute_quality import metrics as mx
from hybridroute_quality import preroute as pr
from hybridroute_quality.logs import Decision

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Calibration:
    threshold: float
    large_share: float
    """Share of the calibration rows at or above the threshold."""
    quality: float | None = None
    quality_vs_large: float | None = None
    rows: int = 0


def threshold_for_count(scores: F64, k: int) -> float:
    """A threshold sending exactly the ``k`` highest (distinct) scores to the large model."""
    desc = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    n = desc.size
    if k <= 0:
        return 1.0 if n == 0 or desc[0] < 1.0 else float(np.nextafter(1.0, 2.0))
    if k >= n:
        return float(desc[-1]) if n else 0.0
    return float((desc[k - 1] + desc[k]) / 2.0) if desc[k - 1] > desc[k] else float(desc[k - 1])


def _share(scores: F64, threshold: float) -> float:
    return float(np.mean(scores >= threshold)) if scores.size else 0.0


def for_large_share(scores: F64, target_share: float) -> Calibration:
    """The threshold that sends ``target_share`` of these queries to the large model."""
    if not 0.0 <= target_share <= 1.0:
        raise ValueError("target large share must be in [0, 1]")
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        raise ValueError("no scores to calibrate on")
    t = threshold_for_count(s, round(target_share * s.size))
    return Calibration(threshold=min(t, 1.0), large_share=_share(s, t), rows=int(s.size))


def for_quality(scores: F64, small: F64, large: F64, target_vs_large: float) -> Calibration:
    """The fewest large calls whose mean quality reaches ``target_vs_large`` times the
    all-large quality (e.g. 0.95)."""
    s = np.asarray(scores, dtype=np.float64)
    if s.size == 0:
        raise ValueError("no labeled rows to calibrate on")
    if not 0.0 < target_vs_large <= 1.5:
        raise ValueError("target quality must be a fraction of the large model's, e.g. 0.95")
    desc = np.sort(s)[::-1]
    curve = mx.quality_curve(s, small, large)
    goal = target_vs_large * float(np.mean(large))
    hits = np.flatnonzero(curve >= goal - 1e-12)
    k = int(hits[0]) if hits.size else s.size
    # whole groups of equal scores go together: move k to the end of its tie group
    if 0 < k < s.size:
        k = int(np.searchsorted(-desc, -desc[k - 1], side="right"))
    t = threshold_for_count(s, k)
    share = _share(s, t)
    realised = (np.sum(np.where(s >= t, large, small))) / s.size
    lq = float(np.mean(large))
    return Calibration(
        threshold=min(t, 1.0),
        large_share=share,
        quality=float(realised),
        quality_vs_large=float(realised / lq) if lq else None,
        rows=int(s.size),
    )


def policy_snippet(cal: Calibration, scorer: str, *, source: str) -> str:
    """YAML to paste under a HybridRoute's ``spec`` (or a router policy, without
    ``policy:``)."""
    detail = f"large share {cal.large_share:.1%}"
    if cal.quality is not None and cal.quality_vs_large is not None:
        detail += f", quality {cal.quality:.3f} ({cal.quality_vs_large:.1%} of all-large)"
    return (
        f"# hybridroute calibrate: {cal.rows} rows from {source}; {detail}\n"
        "policy:\n"
        "  complexity:\n"
        f"    scorer: {scorer}\n"
        f"    threshold: {cal.threshold:.4f}\n"
    )


DEFAULT_COST_THRESHOLD = 0.9
"""``1 - small / large`` cost per query without prices: an 8B/70B ratio of about 1:10."""


def cost_threshold(tokens: Sequence[tuple[int, int]], small: mx.Prices, large: mx.Prices) -> float:
    """``1 - small / large`` cost of these (prompt, completion) tokens at these prices
    (:data:`DEFAULT_COST_THRESHOLD` without a large-model price)."""
    arr = np.asarray(tokens, dtype=np.float64).reshape(-1, 2)
    s = float(np.sum(mx.call_cost(arr[:, 0], arr[:, 1], small)))
    lg = float(np.sum(mx.call_cost(arr[:, 0], arr[:, 1], large)))
    return DEFAULT_COST_THRESHOLD if lg <= 0.0 else mx.expected_cost_threshold(s, lg)


def preroute_snippet(decided: Sequence[Decision], cost: float, *, source: str) -> str:
    """With a cascade on: the complexity threshold from which pre-routing pays, from the
    logged escalations of the cascaded requests, as YAML for the policy. Scores at or
    above the threshold in force were pre-routed already (not cascaded): the result is
    never above it, and says nothing about them."""
    judged = [d for d in decided if d.escalated is not None]
    result = pr.from_escalations(
        np.asarray([d.score for d in judged]), np.asarray([bool(d.escalated) for d in judged]), cost
    )
    in_force = max((d.threshold for d in decided if d.threshold is not None), default=1.0)
    lines = [
        f"# hybridroute calibrate --preroute: {result.cascaded} cascaded requests from "
        f"{source}, {result.escalated} escalated; pre-routing pays where the lower bound "
        f"of P(escalate | score) >= {cost:.3f}",
    ]
    if result.threshold is None or result.threshold >= in_force:
        lines.append(
            f"# no score range below the threshold in force ({in_force:.4f}) escalates "
            "that often: pre-routing more would not pay; keep it"
        )
        threshold = in_force
    else:
        lines.append(
            f"# from score {result.threshold:.4f}: {result.preroute_share:.1%} of the "
            f"cascaded requests (escalated {result.preroute_escalation_rate:.1%} of the "
            "time) skip the small call"
        )
        threshold = result.threshold
    return "\n".join([*lines, "policy:", "  complexity:", f"    threshold: {threshold:.4f}", ""])
