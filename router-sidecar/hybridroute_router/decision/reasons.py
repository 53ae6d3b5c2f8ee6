"""The bounded set of reasons a routing decision can carry.

The same string is a Prometheus label value, a decision-log field and the
``x-hybridroute-reason`` response header; docs/router.md lists them all.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    TIER_LARGE = "tier_large"
    TIER_SMALL = "tier_small"
    TIER_PREFER_SMALL = "tier_prefer_small"
    COMPLEXITY_ABOVE_THRESHOLD = "complexity_above_threshold"
    COMPLEXITY_BELOW_THRESHOLD = "complexity_below_threshold"
    LARGE_IN_FLIGHT_CAP = "large_in_flight_cap"
    """Above the threshold, but the large model had limits.maxLargeInFlight in flight."""
    NO_SMALL_VERSION_READY = "no_small_version_ready"
    LOW_CONFIDENCE_ESCALATION = "low_confidence_escalation"
    CONFIDENCE_UNAVAILABLE = "confidence_unavailable"
    FALLBACK_SMALL_TO_LARGE = "fallback_small_to_large"
    FALLBACK_LARGE_TO_SMALL = "fallback_large_to_small"
    REJECTED = "rejected"
    """Not a routing decision: the request was refused before one (bad input, overload)."""
    INTERNAL_ERROR = "internal_error"
    """Not a routing decision: an unexpected exception in the router (a bug) ended it."""


ALL_REASONS: tuple[str, ...] = tuple(r.value for r in Reason)
