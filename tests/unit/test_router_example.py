"""The shipped example policy loads, builds a router state and routes as documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from hybridroute_policy import TierRule, load_policy
from hybridroute_router.decision import Reason, Signals, decide, extract
from hybridroute_router.decision.complexity import structural_score
from hybridroute_router.state import build_state

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).parents[2] / "examples" / "01-router-policy" / "policy.yaml"


def test_example_policy_builds_a_router_state() -> None:
    policy = load_policy(EXAMPLE)
    state = build_state(policy, source=str(EXAMPLE))
    assert state.scorer.scorer.name == "heuristic"
    assert set(state.small) == {"v3", "v4"}
    assert state.large.model == "llama-3.1-70b-instruct"
    assert state.tier_header == b"x-hybridroute-tier"


@pytest.mark.parametrize(
    ("prompt", "tier_rule", "target", "reason"),
    [
        (
            "Hi! What are your opening hours?",
            TierRule.AUTO,
            "small",
            Reason.COMPLEXITY_BELOW_THRESHOLD,
        ),
        (
            "Step by step, write a Python function def refund(order): that computes the "
            "prorated refund = price * days / 30. Why is it fair? What about leap years?",
            TierRule.AUTO,
            "large",
            Reason.COMPLEXITY_ABOVE_THRESHOLD,
        ),
        ("Hi!", TierRule.LARGE, "large", Reason.TIER_LARGE),
    ],
)
def test_example_policy_routes_as_documented(
    prompt: str, tier_rule: TierRule, target: str, reason: Reason
) -> None:
    policy = load_policy(EXAMPLE)
    features = extract({"messages": [{"role": "user", "content": prompt}]})
    d = decide(policy, Signals(score=structural_score(features), tier_rule=tier_rule))
    assert d.target == target
    assert d.reason is reason


def test_example_canary_gets_about_ten_percent() -> None:
    policy = load_policy(EXAMPLE)
    picks = [decide(policy, Signals(score=0.0, bucket=b)).version for b in range(10_000)]
    canary = sum(1 for v in picks if v is not None and v.name == "v4")
    assert canary == 1_000
