"""The canary's conditions from its rollout state (pure), Flagger's
``MakeStatusConditions`` in spirit: ``CanaryProgressing`` and ``Promoted``."""

from __future__ import annotations

from hybridroute_operator.canary.rollout import Phase, Rollout
from hybridroute_operator.controls import ConditionNote

PROGRESSING = "CanaryProgressing"
PROMOTED = "Promoted"
CONDITION_TYPES = (PROGRESSING, PROMOTED)


def conditions(r: Rollout) -> tuple[ConditionNote, ...]:
    """``CanaryProgressing`` is True while a candidate is pending, analysed or being
    promoted; ``Promoted`` is True once the last candidate became the stable version
    (``kubectl wait --for=condition=Promoted``). Their reason is the phase."""
    reason = r.phase.value
    message = r.message or _default_message(r)
    moving = r.phase in (Phase.PENDING, Phase.PROGRESSING, Phase.PROMOTING)
    return (
        ConditionNote(PROGRESSING, moving, reason, message),
        ConditionNote(PROMOTED, r.phase == Phase.SUCCEEDED, reason, message),
    )


def _default_message(r: Rollout) -> str:
    if r.phase == Phase.IDLE:
        return f"{r.stable} serves all small traffic; no candidate"
    return f"candidate {r.candidate}, stable {r.stable}"
