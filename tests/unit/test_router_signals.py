"""Features, the heuristic score, tiers, sticky weighted versions and confidence."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hybridroute_policy import SmallVersion, TierPolicy, TierRule, Upstream
from hybridroute_router.decision.complexity import structural_score
from hybridroute_router.decision.confidence import LogprobAccumulator, is_confident, mean_logprob
from hybridroute_router.decision.features import extract, text_features
from hybridroute_router.decision.tiers import api_key_from_authorization, resolve_tier, tier_rule
from hybridroute_router.decision.versions import choose_version, sticky_bucket
from hybridroute_router.scorers import HeuristicScorer, Scorer
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

HARD = (
    "Step by step, design a Python class that solves the equation x^2 + 3 * x = 10 "
    "and explain why the trade-offs matter.\n```python\ndef solve(a, b):\n    return a\n```\n"
    "What is the complexity? Which edge cases fail? How would you test it?"
)


def test_features_detect_code_math_steps_and_questions() -> None:
    f = text_features(HARD)
    assert f.has_code
    assert f.has_math
    assert f.multi_step
    assert f.questions == 3
    plain = text_features("What is the capital of France?")
    assert not plain.has_code
    assert not plain.has_math
    assert not plain.multi_step
    assert plain.questions == 1


def test_conversation_depth_counts_user_turns_and_prompt_is_last_user_message() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
        ]
    }
    f = extract(body)
    assert f.depth == 2
    assert f.prompt == "and now?"
    assert f.tokens == (len("be brief") + 2 + 5 + len("and now?") + 3) // 4


def test_heuristic_scores_hard_prompts_above_half_and_plain_questions_low() -> None:
    scorer = HeuristicScorer()
    assert isinstance(scorer, Scorer)
    assert scorer.score(HARD) > 0.5
    assert scorer.score("What is the capital of France?") < 0.2


def test_deeper_conversations_score_higher() -> None:
    shallow = text_features("ok, and then?", depth=1)
    deep = text_features("ok, and then?", depth=8)
    assert structural_score(deep) > structural_score(shallow)


@settings(deadline=None)  # no per-example time limit: a loaded box is slow
@given(st.text(max_size=3000))
def test_heuristic_score_is_always_in_unit_interval(text: str) -> None:
    assert 0.0 <= HeuristicScorer().score(text) <= 1.0


def test_tier_from_api_key_map_wins_and_header_is_ignored_unless_trusted() -> None:
    digest = hashlib.sha256(b"sk-gold").hexdigest()
    untrusted = TierPolicy(header="x-tier", api_key_sha256={digest: "critical"})
    assert resolve_tier(untrusted, api_key="sk-gold", header_value="free") == "critical"
    assert resolve_tier(untrusted, api_key="sk-other", header_value="critical") is None
    trusted = TierPolicy(header="x-tier", trust_header=True)
    assert resolve_tier(trusted, api_key=None, header_value="Critical") == "critical"
    assert tier_rule(trusted, "critical") is TierRule.LARGE
    assert tier_rule(trusted, "unknown-tier") is TierRule.AUTO
    assert api_key_from_authorization("Bearer sk-gold") == "sk-gold"
    assert api_key_from_authorization("Basic abc") is None


def _versions(*spec: tuple[str, int, bool]) -> list[SmallVersion]:
    up = Upstream(base_url="http://x/v1", model="m")
    return [SmallVersion(name=n, weight=w, ready=r, upstream=up) for n, w, r in spec]


def test_versions_are_chosen_by_weight() -> None:
    versions = _versions(("stable", 90, True), ("canary", 10, True))
    counts = Counter(
        choose_version(versions, sticky_bucket(f"req-{i}")).name  # type: ignore[union-attr]
        for i in range(20_000)
    )
    assert 0.08 < counts["canary"] / 20_000 < 0.12


def test_keyed_sticky_bucket_is_stable_but_not_the_unkeyed_one() -> None:
    ids = [f"id-{i}" for i in range(200)]
    keyed = [sticky_bucket(i, b"k" * 32) for i in ids]
    assert keyed == [sticky_bucket(i, b"k" * 32) for i in ids]
    assert keyed != [sticky_bucket(i) for i in ids]
    assert keyed != [sticky_bucket(i, b"j" * 32) for i in ids]


def test_version_choice_is_sticky_per_request_id() -> None:
    versions = _versions(("stable", 50, True), ("canary", 50, True))
    first = [choose_version(versions, sticky_bucket(f"id-{i}")) for i in range(200)]
    again = [choose_version(versions, sticky_bucket(f"id-{i}")) for i in range(200)]
    assert first == again


@settings(deadline=None)  # no per-example time limit: a loaded box is slow
@given(
    weights=st.lists(st.integers(0, 100), min_size=1, max_size=5),
    ready=st.lists(st.booleans(), min_size=5, max_size=5),
    bucket=st.integers(0, 9_999),
)
def test_never_routes_to_a_version_that_is_not_ready(
    weights: list[int], ready: list[bool], bucket: int
) -> None:
    versions = _versions(*[(f"v{i}", w, ready[i]) for i, w in enumerate(weights)])
    chosen = choose_version(versions, bucket)
    if any(v.ready and v.weight for v in versions):
        assert chosen is not None
        assert chosen.ready
    else:
        assert chosen is None


def test_mean_logprob_reads_chat_and_completion_shapes() -> None:
    chat = {
        "choices": [{"index": 0, "logprobs": {"content": [{"logprob": -0.2}, {"logprob": -0.4}]}}]
    }
    legacy = {"choices": [{"index": 0, "logprobs": {"token_logprobs": [-1.0, None, -3.0]}}]}
    assert mean_logprob(chat) == pytest.approx(-0.3)
    assert mean_logprob(legacy) == pytest.approx(-2.0)
    assert mean_logprob({"choices": [{"index": 0, "message": {}}]}) is None
    acc = LogprobAccumulator()
    acc.add(chat)
    acc.add(legacy)
    assert acc.mean == pytest.approx((-0.6 - 4.0) / 4)
    assert is_confident(-0.3, -0.4) is True
    assert is_confident(-0.5, -0.4) is False
    assert is_confident(None, -0.4) is None


@settings(deadline=None)  # no per-example time limit: a loaded box is slow
@given(
    weights=st.lists(st.integers(0, 100), min_size=2, max_size=5),
    bucket=st.integers(0, 9_999),
)
def test_a_zero_weight_version_never_gets_traffic(weights: list[int], bucket: int) -> None:
    versions = _versions(*[(f"v{i}", w, True) for i, w in enumerate(weights)])
    chosen = choose_version(versions, bucket)
    if any(weights):
        assert chosen is not None
        assert chosen.weight > 0
    else:
        assert chosen is None  # the large model answers (no_small_version_ready)
