"""Circuit breaker, retry budget, comparators, scorer registry and request parsing."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hybridroute_policy import Policy
from hybridroute_router.decision.compare import ExactMatch, TokenOverlap, answer_text, normalize
from hybridroute_router.http.errors import HttpError
from hybridroute_router.http.parse import CHAT, COMPLETIONS, parse_body
from hybridroute_router.scorers.registry import load_scorer
from hybridroute_router.upstream.breaker import CircuitBreaker
from hybridroute_router.upstream.budget import RetryBudget
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit


def test_breaker_opens_after_threshold_and_half_opens_for_one_probe() -> None:
    b = CircuitBreaker(failure_threshold=3, open_seconds=10)
    for t in (0.0, 1.0):
        b.failure(t)
    assert b.state(1.0) == "closed"
    assert b.allow(1.0)
    b.failure(2.0)
    assert b.state(2.5) == "open"
    assert not b.allow(2.5)
    assert b.is_open(2.5)
    assert b.state(12.5) == "half-open"
    assert b.allow(12.5)  # the probe
    assert not b.allow(12.6)  # only one at a time
    b.failure(13.0)  # probe failed: open again
    assert b.state(13.0) == "open"
    assert b.allow(23.5)
    assert b.success() is True  # closed an open circuit
    assert b.success() is False
    assert b.state(23.6) == "closed"
    assert b.allow(23.6)


def test_retry_budget_caps_retries_to_a_share_of_requests() -> None:
    budget = RetryBudget(10.0, window=10.0, floor=0)
    for _ in range(100):
        budget.record_request(0.0)
    granted = sum(budget.try_spend(0.1) for _ in range(50))
    assert granted == 10
    # Old traffic ages out of the window: no requests, no retries (floor 0).
    assert not budget.try_spend(25.0)


def test_retry_budget_floor_allows_a_few_retries_when_quiet() -> None:
    budget = RetryBudget(0.0, floor=2)
    assert [budget.try_spend(0.0) for _ in range(3)] == [True, True, False]


def test_comparators() -> None:
    assert normalize("  Paris!  is, THE capital. ") == "paris is the capital"
    assert ExactMatch().similarity("Paris.", "paris") == 1.0
    assert ExactMatch().similarity("Paris", "Lyon") == 0.0
    overlap = TokenOverlap()
    assert overlap.similarity("the capital is Paris", "Paris is the capital") == 1.0
    assert overlap.similarity("a b c d", "a b x y") == pytest.approx(0.5)
    assert overlap.similarity("", "") == 1.0
    assert overlap.similarity("x", "") == 0.0
    assert answer_text({"choices": [{"message": {"content": "hi"}}]}) == "hi"
    assert answer_text({"choices": [{"text": "yo"}]}) == "yo"
    assert answer_text({"choices": []}) == ""


def _policy(scorer: str) -> Policy:
    return Policy.model_validate(
        {
            "large": {"upstream": {"baseUrl": "http://l/v1", "model": "l"}},
            "small": {
                "versions": [{"name": "v1", "upstream": {"baseUrl": "http://s/v1", "model": "s"}}]
            },
            "complexity": {"scorer": scorer},
        }
    )


def test_registry_loads_the_heuristic_when_the_policy_names_it() -> None:
    loaded = load_scorer(_policy("heuristic"))
    assert loaded.scorer.name == "heuristic"
    assert loaded.fallback_reason is None


def test_registry_falls_back_to_heuristic_with_a_reason_when_a_scorer_cannot_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Simulate the optional module being absent (e.g. onnxruntime not installed).
    monkeypatch.setitem(sys.modules, "hybridroute_router.scorers.learned", None)
    loaded = load_scorer(_policy("learned"))
    assert loaded.scorer.name == "heuristic"
    assert loaded.requested == "learned"
    assert loaded.fallback_reason is not None
    assert "unavailable" in loaded.fallback_reason


@pytest.mark.parametrize(
    ("raw", "endpoint", "status", "param"),
    [
        (b"{not json", CHAT, 400, None),
        (b"[1, 2]", CHAT, 400, None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', CHAT, 400, "model"),
        (b'{"model": "other", "messages": [{"role": "user", "content": "x"}]}', CHAT, 404, "model"),
        (b'{"model": "hybrid", "messages": []}', CHAT, 400, "messages"),
        (b'{"model": "hybrid", "messages": ["x"]}', CHAT, 400, "messages[0]"),
        (
            b'{"model": "hybrid", "messages": [{"role": "user"}], "stream": "yes"}',
            CHAT,
            400,
            "stream",
        ),
        (b'{"model": "hybrid", "prompt": 3}', COMPLETIONS, 400, "prompt"),
    ],
)
def test_bad_requests_are_rejected_with_a_clear_error(
    raw: bytes, endpoint: str, status: int, param: str | None
) -> None:
    with pytest.raises(HttpError) as info:
        parse_body(raw, endpoint, "hybrid")
    assert info.value.status == status
    assert info.value.param == param


def test_unknown_fields_are_kept_for_the_upstream() -> None:
    parsed = parse_body(
        b'{"model": "hybrid", "messages": [{"role": "user", "content": "x"}],'
        b' "vendor_x": {"a": 1}}',
        CHAT,
        "hybrid",
    )
    body: dict[str, Any] = parsed.body
    assert body["vendor_x"] == {"a": 1}
    assert parsed.stream is False


@settings(deadline=None)  # no per-example time limit: a loaded box is slow
@given(a=st.text(max_size=200), b=st.text(max_size=200))
def test_comparators_are_symmetric_bounded_and_reflexive(a: str, b: str) -> None:
    for comparator in (ExactMatch(), TokenOverlap()):
        s = comparator.similarity(a, b)
        assert 0.0 <= s <= 1.0
        assert s == pytest.approx(comparator.similarity(b, a))
        assert comparator.similarity(a, a) == 1.0
