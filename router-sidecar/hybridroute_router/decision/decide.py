"""The pure routing decision: features, policy and live state in; target, reason and
scores out. No I/O, no clock, no randomness (stickiness comes in as a bucket).

The rules form a chain; the first that fires wins (see docs/router.md, "Decision order"):

1. no weighted small version ready (or all unavailable) -> large, no_small_version_ready
2. tier rule ``large``                        -> large, tier_large
3. tier rule ``small``                        -> small, tier_small
4. tier rule ``prefer-small``                 -> small, tier_prefer_small (cascade)
5. complexity score >= threshold, but ``limits.maxLargeInFlight`` requests already in
   flight to the large model                  -> small, large_in_flight_cap (no cascade)
6. complexity score >= threshold              -> large, complexity_above_threshold
7. otherwise                                  -> small, complexity_below_threshold (cascade)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from hybridroute_policy import Policy, SmallVersion, TierRule

from hybridroute_router.decision.reasons import Reason
from hybridroute_router.decision.versions import choose_version

Target = Literal["large", "small"]


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything the decision looks at besides the policy."""

    score: float
    """The selected scorer's complexity score in [0, 1]."""
    tier: str | None = None
    tier_rule: TierRule = TierRule.AUTO
    bucket: int = 0
    """Sticky bucket in [0, 10000) derived from the request id."""
    stream: bool = False
    unavailable_versions: Collection[str] = ()
    """Small versions to avoid right now (circuit open)."""
    scores: dict[str, float] = field(default_factory=dict)
    """Extra scores to report (e.g. the heuristic score when another scorer decides)."""
    large_in_flight: int = 0
    """Requests this router has in flight to the large model right now."""


@dataclass(frozen=True, slots=True)
class Decision:
    target: Target
    version: SmallVersion | None
    """The small version to call (also the shadow/fallback version when target is large)."""
    reason: Reason
    cascade: bool
    """Ask the small model first with logprobs and escalate when confidence is low."""
    score: float
    threshold: float
    tier: str | None
    scores: dict[str, float]


def cascade_applies(policy: Policy, *, stream: bool) -> bool:
    c = policy.confidence
    return c.enabled and (not stream or c.streaming == "buffer")


def decide(policy: Policy, s: Signals) -> Decision:
    version = choose_version(policy.small.versions, s.bucket, s.unavailable_versions)
    complexity = policy.complexity
    threshold = complexity.threshold
    if s.tier is not None and complexity.tier_thresholds:
        threshold = complexity.tier_thresholds.get(s.tier, threshold)
    scores = {**s.scores, "complexity": s.score}

    def make(target: Target, reason: Reason, cascade: bool = False) -> Decision:
        return Decision(
            target=target,
            version=version,
            reason=reason,
            cascade=cascade and cascade_applies(policy, stream=s.stream),
            score=s.score,
            threshold=threshold,
            tier=s.tier,
            scores=scores,
        )

    if version is None:
        return make("large", Reason.NO_SMALL_VERSION_READY)
    rule = s.tier_rule
    if rule is TierRule.LARGE:
        return make("large", Reason.TIER_LARGE)
    if rule is TierRule.SMALL:
        return make("small", Reason.TIER_SMALL)
    if rule is TierRule.PREFER_SMALL:
        return make("small", Reason.TIER_PREFER_SMALL, cascade=True)
    if s.score >= threshold:
        cap = policy.limits.max_large_in_flight
        if cap is not None and s.large_in_flight >= cap:
            return make("small", Reason.LARGE_IN_FLIGHT_CAP)
        return make("large", Reason.COMPLEXITY_ABOVE_THRESHOLD)
    return make("small", Reason.COMPLEXITY_BELOW_THRESHOLD, cascade=True)
