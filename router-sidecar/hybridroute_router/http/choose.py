"""Choosing the answer, apart from delivering it: pure functions from what the upstream
calls returned to the :class:`Answer` the client gets (which response, its reason, and
whether it is degraded). No I/O, no clock, no awaits: table-tested in
tests/unit/test_router_choose.py.

The cascade is the one flow with a second call after a verdict; the verdict is here
(:func:`verdict`), the call is in :mod:`completions`, and :func:`cascade_answer` chooses
between the two answers once both outcomes are known."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hybridroute_router.decision.confidence import is_confident
from hybridroute_router.decision.reasons import Reason


class Pick(Enum):
    """Which upstream response the client gets."""

    CALL = "call"
    """The response of the call that was just made, as it is (streamed or buffered)."""
    SMALL = "small"
    """The cascade's buffered small answer (read whole and judged first)."""
    LARGE = "large"
    """The large model's answer after a low-confidence small answer (an escalation)."""


@dataclass(frozen=True, slots=True)
class Answer:
    pick: Pick
    reason: Reason
    degraded: bool = False


class Verdict(Enum):
    """The cascade's judgement of the small model's answer."""

    CONFIDENT = "confident"
    LOW_CONFIDENCE = "low_confidence"
    """Below confidence.minMeanLogprob: escalate to the large model."""
    UNAVAILABLE = "unavailable"
    """The answer carried no logprobs: kept, marked confidence_unavailable."""


@dataclass(frozen=True, slots=True)
class Judged:
    """What the cascade learned of the small answer (for the accounting)."""

    mean_logprob: float | None
    verdict: Verdict
    discarded_tokens: tuple[int, int] = (0, 0)
    """(prompt, completion) tokens of a small answer replaced by the large one: it was
    paid for all the same."""

    @property
    def escalated(self) -> bool:
        """Both models were asked (whether or not the large one answered)."""
        return self.verdict is Verdict.LOW_CONFIDENCE


class CascadeStep(Enum):
    """What the cascade does with the small model's first response."""

    JUDGE = "judge"
    """A 200 from the small model: read it whole, then judge its confidence."""
    DELIVER = "deliver"
    """A fallback to the large model, or the client's own error: delivered as it is."""
    RETRY_WITHOUT_LOGPROBS = "retry_without_logprobs"
    """The small model refused the logprobs the router added (the client did not ask
    for them): ask again with the client's own body, without a cascade."""


def _table(pick: Pick, degraded: bool = False) -> dict[Reason, Answer]:
    return {reason: Answer(pick, reason, degraded) for reason in Reason}


_CALL = _table(Pick.CALL)
_SMALL = _table(Pick.SMALL)
FALLBACK_TO_LARGE = Answer(Pick.CALL, Reason.FALLBACK_SMALL_TO_LARGE)
FALLBACK_TO_SMALL = Answer(Pick.CALL, Reason.FALLBACK_LARGE_TO_SMALL, degraded=True)
SMALL_UNREADABLE = FALLBACK_TO_LARGE
"""The small answer broke while it was read: the large model's answer, as it is."""
ESCALATED = Answer(Pick.LARGE, Reason.LOW_CONFIDENCE_ESCALATION)
LARGE_FAILED = Answer(Pick.SMALL, Reason.FALLBACK_LARGE_TO_SMALL, degraded=True)
"""Escalation failed: the low-confidence small answer is served, marked degraded."""


def routed(decided: Reason, role: str, fallback: bool) -> Answer:
    """The answer of a call made as decided: the decision's reason, or the fallback's
    (to large: not degraded; to small: degraded) when the other model answered."""
    if not fallback:
        return _CALL[decided]
    return FALLBACK_TO_LARGE if role == "large" else FALLBACK_TO_SMALL


def cascade_step(wanted_logprobs: bool, role: str, status: int) -> CascadeStep:
    """The cascade's next step after its first call (``role`` answered ``status``)."""
    if not wanted_logprobs and role == "small" and 400 <= status < 500:
        return CascadeStep.RETRY_WITHOUT_LOGPROBS
    if role != "small" or status != 200:
        return CascadeStep.DELIVER
    return CascadeStep.JUDGE


def without_logprobs(role: str, fallback: bool) -> Answer:
    """The answer of the retry without logprobs: no confidence to judge, unless the
    other model answered (then the fallback's reason)."""
    if fallback:
        return routed(Reason.CONFIDENCE_UNAVAILABLE, role, fallback)
    return _CALL[Reason.CONFIDENCE_UNAVAILABLE]


def verdict(mean_logprob: float | None, min_mean_logprob: float) -> Verdict:
    confident = is_confident(mean_logprob, min_mean_logprob)
    if confident is None:
        return Verdict.UNAVAILABLE
    return Verdict.CONFIDENT if confident else Verdict.LOW_CONFIDENCE


def cascade_answer(decided: Reason, judged: Verdict, large_status: int | None) -> Answer:
    """The cascade's answer once the small answer is judged; ``large_status`` is the
    escalation's status (None: not escalated, or every attempt failed)."""
    if judged is Verdict.CONFIDENT:
        return _SMALL[decided]
    if judged is Verdict.UNAVAILABLE:
        return _SMALL[Reason.CONFIDENCE_UNAVAILABLE]
    if large_status == 200:
        return ESCALATED
    return LARGE_FAILED  # e.g. large refused a parameter: keep the small answer
