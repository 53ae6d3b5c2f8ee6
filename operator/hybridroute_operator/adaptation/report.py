"""What an evaluation leaves behind (pure): the ``status.adaptation`` section, the
``LoadAdapted`` condition and the Event of a change; and the previous state read back
from status (an operator restart resumes from it).

The section shows what a user reads: the threshold, the reason and message, each
signal's value to three significant digits. An evaluation that shows the same as the
section in status keeps that section's ``lastUpdateTime``, so the reconciler writes
nothing (no status write per route and interval: no etcd churn, no watch event for
every client). Evaluations are counted by the operator's
``hybridroute_operator_loop_evaluations_total`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hybridroute_operator.adaptation.law import (
    PRESSURE,
    Previous,
    Reading,
    Result,
    at,
    describe,
)
from hybridroute_operator.controls import ConditionNote, EventNote, shown, since_last_change

CONDITION = "LoadAdapted"
EVENT_REASON = "ThresholdChanged"
UPDATE_TIME = "lastUpdateTime"


def rfc3339(unix: float) -> str:
    return at(unix)


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
    """The last evaluation's threshold, change and pressure times from ``status.adaptation``."""
    section = section or {}
    return Previous(
        threshold=_number(section.get("effectiveThreshold")),
        last_change=parse_time(section.get("lastChangeTime")),
        last_pressure=parse_time(section.get("lastPressureTime")),
        pressured=section.get("reason") in PRESSURE,
    )


def _reading(r: Reading) -> dict[str, Any]:
    """A signal as status shows it. No sample time: an instant query's is the time of the
    evaluation, which would make every evaluation a write (a missing or stale sample is
    the reason, ``StaleData`` / ``NoData``)."""
    out: dict[str, Any] = {"signal": r.signal, "target": r.target}
    if r.value is not None and math.isfinite(r.value):
        out["value"] = shown(r.value)
    if r.problem is not None:
        out["problem"] = r.problem
    return out


def section(
    result: Result,
    readings: Sequence[Reading],
    previous: Previous,
    baseline: float,
    now: float,
    written: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``status.adaptation`` after this evaluation; ``written`` is the section in status:
    when this one shows the same, it is returned as it is (see the module docstring).
    ``lastPressureTime`` is when the last pressure ended: stamped by the first evaluation
    after one whose reason says pressure that has another reason."""
    before = baseline if previous.threshold is None else previous.threshold
    last_change = now if abs(result.threshold - before) > 1e-12 else previous.last_change
    out: dict[str, Any] = {
        "effectiveThreshold": round(result.threshold, 6),
        "baselineThreshold": baseline,
        "reason": result.reason.value,
        "message": result.message,
        UPDATE_TIME: rfc3339(now),
        "readings": [_reading(r) for r in readings],
    }
    if last_change is not None:
        out["lastChangeTime"] = rfc3339(last_change)
    ended = previous.pressured and result.reason not in PRESSURE
    last_pressure = now if ended else previous.last_pressure
    if last_pressure is not None:
        out["lastPressureTime"] = rfc3339(last_pressure)
    return since_last_change(out, written, UPDATE_TIME)


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
