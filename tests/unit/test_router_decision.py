"""The pure routing decision: a table of signals -> (target, reason), and properties
that must hold for any input."""

from __future__ import annotations

from typing import Any

import pytest
from hybridroute_policy import Policy, TierRule
from hybridroute_router.decision import ALL_REASONS, Reason, Signals, decide
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit


def make_policy(**overrides: Any) -> Policy:
    doc: dict[str, Any] = {
        "large": {"upstream": {"baseUrl": "http://large:8000/v1", "model": "big"}},
        "small": {
            "versions": [
                {
                    "name": "v1",
                    "weight": 90,
                    "upstream": {"baseUrl": "http://v1:8000/v1", "model": "s1"},
                },
                {
                    "name": "v2",
                    "weight": 10,
                    "upstream": {"baseUrl": "http://v2:8000/v1", "model": "s2"},
                },
            ]
        },
        "complexity": {"threshold": 0.5},
        "confidence": {"enabled": True, "streaming": "skip"},
    }
    doc.update(overrides)
    return Policy.model_validate(doc)


POLICY = make_policy()
NONE_READY = make_policy(
    small={
        "versions": [
            {
                "name": "v1",
                "weight": 100,
                "ready": False,
                "upstream": {"baseUrl": "http://v1:8000/v1", "model": "s1"},
            }
        ]
    }
)

TABLE = [
    # (case, policy, signals, target, reason, cascade)
    (
        "simple query goes small",
        POLICY,
        Signals(score=0.1),
        "small",
        Reason.COMPLEXITY_BELOW_THRESHOLD,
        True,
    ),
    (
        "hard query goes large",
        POLICY,
        Signals(score=0.9),
        "large",
        Reason.COMPLEXITY_ABOVE_THRESHOLD,
        False,
    ),
    (
        "score equal to threshold goes large",
        POLICY,
        Signals(score=0.5),
        "large",
        Reason.COMPLEXITY_ABOVE_THRESHOLD,
        False,
    ),
    (
        "critical tier forces large for an easy query",
        POLICY,
        Signals(score=0.0, tier="critical", tier_rule=TierRule.LARGE),
        "large",
        Reason.TIER_LARGE,
        False,
    ),
    (
        "small tier forces small for a hard query",
        POLICY,
        Signals(score=1.0, tier="batch", tier_rule=TierRule.SMALL),
        "small",
        Reason.TIER_SMALL,
        False,
    ),
    (
        "free tier prefers small and may escalate",
        POLICY,
        Signals(score=1.0, tier="free", tier_rule=TierRule.PREFER_SMALL),
        "small",
        Reason.TIER_PREFER_SMALL,
        True,
    ),
    (
        "no ready small version goes large",
        NONE_READY,
        Signals(score=0.0),
        "large",
        Reason.NO_SMALL_VERSION_READY,
        False,
    ),
    (
        "every small version unavailable goes large",
        POLICY,
        Signals(score=0.0, unavailable_versions=("v1", "v2")),
        "large",
        Reason.NO_SMALL_VERSION_READY,
        False,
    ),
    (
        "streaming skips the cascade by default",
        POLICY,
        Signals(score=0.1, stream=True),
        "small",
        Reason.COMPLEXITY_BELOW_THRESHOLD,
        False,
    ),
    (
        "streaming cascades in buffer mode",
        make_policy(confidence={"enabled": True, "streaming": "buffer"}),
        Signals(score=0.1, stream=True),
        "small",
        Reason.COMPLEXITY_BELOW_THRESHOLD,
        True,
    ),
    (
        "cascade off when confidence disabled",
        make_policy(confidence={"enabled": False}),
        Signals(score=0.1),
        "small",
        Reason.COMPLEXITY_BELOW_THRESHOLD,
        False,
    ),
]


@pytest.mark.parametrize(
    ("case", "policy", "signals", "target", "reason", "cascade"),
    TABLE,
    ids=[row[0] for row in TABLE],
)
def test_decision_table(
    case: str, policy: Policy, signals: Signals, target: str, reason: Reason, cascade: bool
) -> None:
    d = decide(policy, signals)
    assert (d.target, d.reason, d.cascade) == (target, reason, cascade), case


def test_unavailable_version_is_avoided_when_another_is_ready() -> None:
    for bucket in range(0, 10_000, 97):
        d = decide(POLICY, Signals(score=0.1, bucket=bucket, unavailable_versions=("v1",)))
        assert d.version is not None
        assert d.version.name == "v2"


def test_decision_reports_score_threshold_and_extra_scores() -> None:
    d = decide(POLICY, Signals(score=0.3, scores={"heuristic": 0.2}))
    assert d.score == 0.3
    assert d.threshold == 0.5
    assert d.scores == {"heuristic": 0.2, "complexity": 0.3}


signals = st.builds(
    Signals,
    score=st.floats(0.0, 1.0),
    tier=st.one_of(st.none(), st.sampled_from(["critical", "free", "batch"])),
    tier_rule=st.sampled_from(list(TierRule)),
    bucket=st.integers(0, 9_999),
    stream=st.booleans(),
    unavailable_versions=st.lists(st.sampled_from(["v1", "v2"]), max_size=2),
)
thresholds = st.floats(0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(s=signals, threshold=thresholds)
def test_decision_properties(s: Signals, threshold: float) -> None:
    policy = make_policy(complexity={"threshold": threshold})
    d = decide(policy, s)
    assert d.reason.value in ALL_REASONS
    assert d.target in ("large", "small")
    # Never a version that is unavailable or not ready; small only with a version.
    if d.version is not None:
        assert d.version.name not in s.unavailable_versions
        assert d.version.ready
    if d.target == "small":
        assert d.version is not None
    # Tier rules win over complexity; complexity decides only under "auto".
    if d.version is not None and s.tier_rule is TierRule.LARGE:
        assert d.target == "large"
    if d.version is not None and s.tier_rule is TierRule.AUTO:
        assert (d.target == "large") == (s.score >= threshold)
    # Cascades only ever start on the small model.
    if d.cascade:
        assert d.target == "small"
    # Deterministic: the same inputs give the same decision.
    assert decide(policy, s) == d


@settings(max_examples=200, deadline=None)
@given(s=signals, low=thresholds, high=thresholds)
def test_raising_the_threshold_never_moves_traffic_to_large(
    s: Signals, low: float, high: float
) -> None:
    low, high = min(low, high), max(low, high)
    d_low = decide(make_policy(complexity={"threshold": low}), s)
    d_high = decide(make_policy(complexity={"threshold": high}), s)
    if d_low.target == "small":
        assert d_high.target == "small"


def test_large_in_flight_cap_sends_what_may_go_small_to_small() -> None:
    policy = make_policy(limits={"maxLargeInFlight": 4})
    busy = decide(policy, Signals(score=0.9, large_in_flight=4))
    assert (busy.target, busy.reason, busy.cascade) == ("small", Reason.LARGE_IN_FLIGHT_CAP, False)
    below = decide(policy, Signals(score=0.9, large_in_flight=3))
    assert (below.target, below.reason) == ("large", Reason.COMPLEXITY_ABOVE_THRESHOLD)


def test_large_in_flight_cap_never_overrides_a_tier_forced_to_large() -> None:
    policy = make_policy(limits={"maxLargeInFlight": 1})
    forced = decide(
        policy, Signals(score=0.1, tier="critical", tier_rule=TierRule.LARGE, large_in_flight=50)
    )
    assert (forced.target, forced.reason) == ("large", Reason.TIER_LARGE)


def test_without_a_cap_in_flight_load_changes_nothing() -> None:
    d = decide(make_policy(), Signals(score=0.9, large_in_flight=10_000))
    assert (d.target, d.reason) == ("large", Reason.COMPLEXITY_ABOVE_THRESHOLD)


def test_a_tier_with_its_own_threshold_ignores_the_adapted_one() -> None:
    """Load adaptation moves complexity.threshold only: a tier listed in tierThresholds
    (exempt) keeps its own, other tiers and untiered requests follow the moved one."""
    policy = make_policy(complexity={"threshold": 0.8, "tierThresholds": {"premium": 0.5}})
    premium = decide(policy, Signals(score=0.6, tier="premium"))
    assert (premium.target, premium.threshold) == ("large", 0.5)
    other = decide(policy, Signals(score=0.6, tier="standard"))
    assert (other.target, other.threshold) == ("small", 0.8)
    untiered = decide(policy, Signals(score=0.6))
    assert untiered.target == "small"
