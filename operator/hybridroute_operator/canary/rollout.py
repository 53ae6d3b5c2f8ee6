"""The state of one route's rollout as it is kept in ``status.canary`` (pure).

Everything the state machine needs to resume after an operator restart or a peering
hand-over is here; ``Rollout.from_status`` reads what ``to_status`` wrote (and tolerates
a section written by hand or by an older operator: unknown or malformed fields fall
back to their defaults, never to a step that was not earned).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    IDLE = "Idle"  # only the stable version; nothing to analyse
    PENDING = "Pending"  # a candidate exists but is not ready: no traffic yet
    PROGRESSING = "Progressing"  # the candidate has a step's weight and is analysed
    PROMOTING = "Promoting"  # every step passed: the candidate has 100%, confirming
    SUCCEEDED = "Succeeded"  # the candidate became the stable version
    ROLLED_BACK = "RolledBack"  # the candidate failed (or was aborted): weight 0
    PAUSED = "Paused"  # spec.canary.paused, or too many inconclusive analyses


PHASES = tuple(Phase)
ACTIVE = frozenset({Phase.PENDING, Phase.PROGRESSING, Phase.PROMOTING, Phase.PAUSED})


def iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class CheckResult:
    """One check of one analysis: ``result`` pass, fail or inconclusive; ``value`` the
    measured number (None when there was none), ``threshold`` what it was held to."""

    name: str
    result: str
    value: float | None = None
    threshold: float | None = None
    op: str = ""  # ">=" or "<="
    dry_run: bool = False
    message: str = ""

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "result": self.result}
        if self.value is not None:
            out["value"] = round(self.value, 6)
        if self.threshold is not None:
            out["threshold"] = round(self.threshold, 6)
        if self.op:
            out["op"] = self.op
        if self.dry_run:
            out["dryRun"] = True
        if self.message:
            out["message"] = self.message
        return out

    @staticmethod
    def from_status(raw: Mapping[str, Any]) -> CheckResult:
        def num(key: str) -> float | None:
            v = raw.get(key)
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

        return CheckResult(
            name=str(raw.get("name", "")),
            result=str(raw.get("result", "inconclusive")),
            value=num("value"),
            threshold=num("threshold"),
            op=str(raw.get("op", "")),
            dry_run=bool(raw.get("dryRun", False)),
            message=str(raw.get("message", "")),
        )

    def describe(self) -> str:
        """``errorRate 0.31 > 0.05`` style text for Events and messages."""
        if self.value is None:
            return f"{self.name}: {self.message or 'no data'}"
        shown = f"{self.name} {self.value:.4g}"
        if self.threshold is None:
            return shown
        passed = self.result == "pass"
        op = self.op if passed else {">=": "<", "<=": ">"}.get(self.op, self.op)
        how = f" ({self.message})" if self.message else ""  # e.g. a relative bound's stable
        return f"{shown} {op} {self.threshold:.4g}{how}"


@dataclass(frozen=True)
class Rollout:
    phase: Phase = Phase.IDLE
    stable: str | None = None
    candidate: str | None = None
    step: int = 0  # index into stepWeights while Progressing (or Paused from it)
    weight: int = 0  # the candidate's percent of small traffic now
    weights: Mapping[str, int] = field(default_factory=dict)
    failed_checks: int = 0  # failed analyses in this rollout
    inconclusive_checks: int = 0  # consecutive inconclusive analyses
    checks: tuple[CheckResult, ...] = ()
    rolled_back: tuple[str, ...] = ()  # kept out until a newer version or a retry
    previous: str | None = None  # the old stable, kept at weight 0 after a promotion
    previous_until: float | None = None
    paused_reason: str | None = None
    last_retry: str | None = None  # the retry annotation value already acted on
    message: str = ""
    step_start_time: float | None = None
    last_evaluation_time: float | None = None
    last_transition_time: float | None = None

    def with_(self, **changes: Any) -> Rollout:
        return replace(self, **changes)

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "phase": self.phase.value,
            "stable": self.stable,
            "candidate": self.candidate,
            "step": self.step,
            "weight": self.weight,
            "weights": dict(self.weights),
            "failedChecks": self.failed_checks,
            "inconclusiveChecks": self.inconclusive_checks,
            "checks": [c.to_status() for c in self.checks],
            "rolledBack": list(self.rolled_back),
            "message": self.message,
        }
        optional = {
            "previous": self.previous,
            "previousUntil": iso(self.previous_until),
            "pausedReason": self.paused_reason,
            "lastRetry": self.last_retry,
            "stepStartTime": iso(self.step_start_time),
            "lastEvaluationTime": iso(self.last_evaluation_time),
            "lastTransitionTime": iso(self.last_transition_time),
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    @staticmethod
    def from_status(raw: Mapping[str, Any] | None) -> Rollout:
        if not isinstance(raw, Mapping):
            return Rollout()

        def text(key: str) -> str | None:
            v = raw.get(key)
            return v if isinstance(v, str) and v else None

        def count(key: str) -> int:
            v = raw.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0

        try:
            phase = Phase(str(raw.get("phase")))
        except ValueError:
            phase = Phase.IDLE
        weights = raw.get("weights")
        checks = raw.get("checks")
        return Rollout(
            phase=phase,
            stable=text("stable"),
            candidate=text("candidate"),
            step=count("step"),
            weight=min(100, count("weight")),
            weights={
                str(k): v
                for k, v in (weights.items() if isinstance(weights, Mapping) else [])
                if isinstance(v, int) and not isinstance(v, bool)
            },
            failed_checks=count("failedChecks"),
            inconclusive_checks=count("inconclusiveChecks"),
            checks=tuple(
                CheckResult.from_status(c)
                for c in (checks if isinstance(checks, list) else [])
                if isinstance(c, Mapping)
            ),
            rolled_back=tuple(str(v) for v in raw.get("rolledBack") or [] if isinstance(v, str)),
            previous=text("previous"),
            previous_until=parse_time(raw.get("previousUntil")),
            paused_reason=text("pausedReason"),
            last_retry=text("lastRetry"),
            message=str(raw.get("message") or ""),
            step_start_time=parse_time(raw.get("stepStartTime")),
            last_evaluation_time=parse_time(raw.get("lastEvaluationTime")),
            last_transition_time=parse_time(raw.get("lastTransitionTime")),
        )
