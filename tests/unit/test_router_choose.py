"""The pure answer chooser: every outcome of the upstream calls maps to the answer the
client gets (which response, its reason, degraded or not)."""

from __future__ import annotations

import pytest
from hybridroute_router.decision.reasons import Reason
from hybridroute_router.http.choose import (
    Answer,
    CascadeStep,
    Judged,
    Pick,
    Verdict,
    cascade_answer,
    cascade_step,
    routed,
    verdict,
    without_logprobs,
)

pytestmark = pytest.mark.unit

DECIDED = Reason.COMPLEXITY_BELOW_THRESHOLD

ROUTING_REASONS = [
    Reason.TIER_LARGE,
    Reason.TIER_SMALL,
    Reason.TIER_PREFER_SMALL,
    Reason.COMPLEXITY_ABOVE_THRESHOLD,
    Reason.COMPLEXITY_BELOW_THRESHOLD,
    Reason.LARGE_IN_FLIGHT_CAP,
    Reason.NO_SMALL_VERSION_READY,
]


@pytest.mark.parametrize("decided", ROUTING_REASONS)
@pytest.mark.parametrize("role", ["large", "small"])
def test_a_call_answered_as_decided_keeps_the_decisions_reason(decided: Reason, role: str) -> None:
    assert routed(decided, role, fallback=False) == Answer(Pick.CALL, decided)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("large", Answer(Pick.CALL, Reason.FALLBACK_SMALL_TO_LARGE, degraded=False)),
        ("small", Answer(Pick.CALL, Reason.FALLBACK_LARGE_TO_SMALL, degraded=True)),
    ],
)
def test_a_fallback_answer_carries_the_fallback_reason(role: str, expected: Answer) -> None:
    """Falling back to large is an upgrade; falling back to small is degraded service."""
    for decided in ROUTING_REASONS:
        assert routed(decided, role, fallback=True) == expected


@pytest.mark.parametrize(
    ("wanted", "role", "status", "step"),
    [
        (False, "small", 200, CascadeStep.JUDGE),
        (True, "small", 200, CascadeStep.JUDGE),
        (False, "small", 400, CascadeStep.RETRY_WITHOUT_LOGPROBS),
        (False, "small", 422, CascadeStep.RETRY_WITHOUT_LOGPROBS),
        (False, "small", 499, CascadeStep.RETRY_WITHOUT_LOGPROBS),
        (True, "small", 400, CascadeStep.DELIVER),  # the client's own logprobs: its error
        (False, "large", 400, CascadeStep.DELIVER),  # the fallback refused: its answer
        (False, "large", 200, CascadeStep.DELIVER),  # fell back to large
        (True, "large", 200, CascadeStep.DELIVER),
        (False, "small", 201, CascadeStep.DELIVER),
        (False, "small", 399, CascadeStep.DELIVER),
    ],
)
def test_cascade_step_after_the_small_models_first_response(
    wanted: bool, role: str, status: int, step: CascadeStep
) -> None:
    assert cascade_step(wanted, role, status) is step


def test_the_retry_without_logprobs_has_no_confidence_unless_it_fell_back() -> None:
    assert without_logprobs("small", fallback=False) == Answer(
        Pick.CALL, Reason.CONFIDENCE_UNAVAILABLE
    )
    assert without_logprobs("large", fallback=True) == Answer(
        Pick.CALL, Reason.FALLBACK_SMALL_TO_LARGE
    )


@pytest.mark.parametrize(
    ("mean", "threshold", "expected"),
    [
        (-0.1, -1.0, Verdict.CONFIDENT),
        (-1.0, -1.0, Verdict.CONFIDENT),  # at the threshold: confident
        (-1.0001, -1.0, Verdict.LOW_CONFIDENCE),
        (-5.0, -1.0, Verdict.LOW_CONFIDENCE),
        (None, -1.0, Verdict.UNAVAILABLE),
        (0.0, 0.0, Verdict.CONFIDENT),
    ],
)
def test_verdict(mean: float | None, threshold: float, expected: Verdict) -> None:
    assert verdict(mean, threshold) is expected


@pytest.mark.parametrize(
    ("judged", "large_status", "expected"),
    [
        (Verdict.CONFIDENT, None, Answer(Pick.SMALL, DECIDED)),
        (Verdict.UNAVAILABLE, None, Answer(Pick.SMALL, Reason.CONFIDENCE_UNAVAILABLE)),
        (Verdict.LOW_CONFIDENCE, 200, Answer(Pick.LARGE, Reason.LOW_CONFIDENCE_ESCALATION)),
        # the large model failed (every attempt) or refused: the small answer, degraded
        (
            Verdict.LOW_CONFIDENCE,
            None,
            Answer(Pick.SMALL, Reason.FALLBACK_LARGE_TO_SMALL, degraded=True),
        ),
        (
            Verdict.LOW_CONFIDENCE,
            400,
            Answer(Pick.SMALL, Reason.FALLBACK_LARGE_TO_SMALL, degraded=True),
        ),
    ],
)
def test_cascade_answer(judged: Verdict, large_status: int | None, expected: Answer) -> None:
    assert cascade_answer(DECIDED, judged, large_status) == expected


def test_only_a_low_confidence_verdict_counts_as_escalated() -> None:
    assert Judged(-3.0, Verdict.LOW_CONFIDENCE).escalated
    assert not Judged(-0.1, Verdict.CONFIDENT).escalated
    assert not Judged(None, Verdict.UNAVAILABLE).escalated


def test_every_answer_carries_a_reason_enum_never_a_string() -> None:
    answers = [
        *(
            routed(r, role, fb)
            for r in ROUTING_REASONS
            for role in ("large", "small")
            for fb in (
                False,
                True,
            )
        ),
        *(cascade_answer(DECIDED, v, s) for v in Verdict for s in (None, 200, 400)),
        without_logprobs("small", False),
        without_logprobs("large", True),
    ]
    assert all(type(a.reason) is Reason for a in answers)
    reasons = {a.reason for a in answers}
    assert reasons == {
        *ROUTING_REASONS,
        Reason.FALLBACK_SMALL_TO_LARGE,
        Reason.FALLBACK_LARGE_TO_SMALL,
        Reason.LOW_CONFIDENCE_ESCALATION,
        Reason.CONFIDENCE_UNAVAILABLE,
    }
