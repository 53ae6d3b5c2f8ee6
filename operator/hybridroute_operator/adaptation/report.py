"""What an evaluation leaves behind (pure): the ``status.adaptation`` section, the
``LoadAdapted`` condition and the Event of a change; and the previous state read back
from status (an operator restart resumes from it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hybridroute_operator.adaptation.law import Previous, Reading, Result, describe
from hybridroute_operator.controls import ConditionNote, EventNote

CONDITION = "LoadAdapted"
EVENT_REASON = "ThresholdChanged"


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def previous_from(section: Mapping[str, Any] | None) -> Previous:
    """The last evaluation's threshold and change time from ``status.adaptation``."""
    section = section or {}
    return Previous(
        threshold=_number(section.get("effectiveThreshold")),
        last_change=parse_time(section.get("lastChangeTime")),
        last_pressure=parse_time(section.get("lastPressureTime")),
    )


def _reading(r: Reading) -> dict[str, Any]:
    out: dict[str, Any] = {"signal": r.signal, "target": r.target}
    if r.value is not None:
        out["value"] = round(r.value, 6)
    if r.time is not None:
        out["time"] = rfc3339(r.time)
    if r.problem is not None:
        out["problem"] = r.problem
    return out


def section(
    result: Result,
    readings: Sequence[Reading],
    previous: Previous,
    baseline: float,
    now: float,
) -> dict[str, Any]:
    before = baseline if previous.threshold is None else previous.threshold
    last_change = now if abs(result.threshold - before) > 1e-12 else previous.last_change
    out: dict[str, Any] = {
        "effectiveThreshold": round(result.threshold, 6),
        "baselineThreshold": baseline,
        "reason": result.reason.value,
        "message": result.message,
        "lastEvaluationTime": rfc3339(now),
        "readings": [_reading(r) for r in readings],
    }
    if last_change is not None:
        out["lastChangeTime"] = rfc3339(last_change)
    last_pressure = now if result.pressured else previous.last_pressure
    if last_pressure is not None:
        out["lastPressureTime"] = rfc3339(last_pressure)
    return out


def condition(result: Result) -> ConditionNote:
    """True while the controller works on fresh data; False while it holds."""
    return ConditionNote(CONDITION, result.data_ok, result.reason.value, result.message)


def events(
    result: Result, readings: Sequence[Reading], previous: Previous, baseline: float
) -> list[EventNote]:
    """One Event per change of the threshold, naming every signal's value."""
    before = baseline if previous.threshold is None else previous.threshold
    if abs(result.threshold - before) <= 1e-12:
        return []
    values = ", ".join(describe(r) for r in readings) or "no signals"
    return [
        EventNote(
            "Normal",
            EVENT_REASON,
            f"complexity threshold {before:.4g} -> {result.threshold:.4g} "
            f"({result.reason.value}): {values}",
        )
    ]
