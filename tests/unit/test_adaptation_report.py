"""status.adaptation is written only when what a user sees changes (pure): an evaluation
that shows the same as the section in status returns that section unchanged, so the
loop's output equals the last one and the reconciler writes nothing. The evaluations
below run the real control law (``step``) and feed each section back as the reconciler
would."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
from hybridroute_operator.adaptation.law import Bounds, Reading, Why, step
from hybridroute_operator.adaptation.report import previous_from, rfc3339, section

pytestmark = pytest.mark.unit
B = Bounds(
    baseline=0.5, min=0.5, max=0.8, max_step=0.05, cooldown=120, hysteresis=0.2, stale_after=60
)
T0 = 1_700_000_000.0
INTERVAL = 30.0


def evaluate(status: Mapping[str, Any] | None, values: list[float], now: float) -> dict[str, Any]:
    """One evaluation as the loop runs it: queue depth readings (target 4) in, section out."""
    readings = [Reading("queueDepth", 4.0, v, now) for v in values]
    previous = previous_from(status)
    result = step(readings, previous, B, now)
    return section(result, readings, previous, B.baseline, now, status)


def run(
    values: list[float], start: Mapping[str, Any] | None = None, t0: float = T0
) -> list[dict[str, Any]]:
    """One evaluation per value, every INTERVAL s from t0, each reading the section the
    one before left (as the reconciler hands it back)."""
    status, out = start, []
    for i, value in enumerate(values):
        status = evaluate(status, [value], t0 + i * INTERVAL)
        out.append(status)
    return out


def writes(sections: list[dict[str, Any]], before: Mapping[str, Any] | None = None) -> int:
    count = 0
    for s in sections:
        count += s != before
        before = s
    return count


def test_a_steady_reading_is_the_same_section_again() -> None:
    first, *rest = run([3.5] * 10)  # within the band at the baseline: holding
    assert first["reason"] == Why.AT_BASELINE
    assert all(s == first for s in rest)  # same dict: same loop output, nothing to write
    assert first["lastUpdateTime"] == rfc3339(T0)  # the first evaluation's


def test_a_reading_that_moves_only_beyond_three_digits_is_not_a_change() -> None:
    sections = run([3.501, 3.5049, 3.4951, 3.503])  # all shown as 3.5
    assert writes(sections) == 1
    assert sections[-1]["readings"][0]["value"] == 3.5
    assert "3.5 (target 4)" in sections[-1]["message"]


@pytest.mark.parametrize(
    ("second", "field"),
    [
        (3.52, "readings"),  # the value as shown (and the message naming it)
        (0.0, "reason"),  # no load: AtBaseline still, but another message
        (12.0, "effectiveThreshold"),  # over target: a step up
    ],
)
def test_a_reading_that_shows_something_else_is_written_with_its_time(
    second: float, field: str
) -> None:
    first, changed = run([3.5, second])
    assert changed != first
    assert changed["lastUpdateTime"] == rfc3339(T0 + INTERVAL)
    if field != "reason":
        assert changed[field] != first[field]


def test_steady_pressure_at_the_maximum_is_written_once() -> None:
    """Saturated: six steps up to the maximum, then AtMaximum with the same reading for
    ten more intervals: one write per step and one for AtMaximum, none after."""
    sections = run([20.0] * 17)
    assert sections[-1]["reason"] == Why.AT_MAXIMUM
    assert sections[-1]["effectiveThreshold"] == 0.8
    assert writes(sections) == 7
    assert sections[-1]["lastUpdateTime"] == sections[6]["lastUpdateTime"]


def test_a_cooldown_reads_the_same_until_it_ends() -> None:
    """The cooldown's message names when it ends (not the seconds left), so holding
    through it is one write, and the step back after it another."""
    pressured = run([20.0] * 3)[-1]  # the last step at T0 + 60
    assert pressured["reason"] == Why.RELIEVING
    ended = T0 + 3 * INTERVAL  # the first evaluation without pressure
    sections = run([0.0] * 5, start=pressured, t0=ended)
    reasons = [s["reason"] for s in sections]
    assert reasons == [Why.COOLDOWN] * 4 + [Why.RETURNING]  # 120 s after `ended`
    assert writes(sections[:4], pressured) == 1
    assert f"until {rfc3339(ended + B.cooldown)} (cooldown)" in sections[0]["message"]
    assert sections[0]["lastPressureTime"] == rfc3339(ended)


def test_an_unreachable_prometheus_is_written_once_and_holds() -> None:
    status = before = run([20.0])[-1]
    broken = Reading("queueDepth", 4.0, None, None, "unreachable", "unreachable: refused")
    sections = []
    for i in range(1, 5):
        previous = previous_from(status)
        result = step([broken], previous, B, T0 + i * INTERVAL)
        status = section(result, [broken], previous, B.baseline, T0 + i * INTERVAL, status)
        sections.append(status)
    assert writes(sections, before) == 1
    assert sections[-1]["reason"] == Why.UNREACHABLE
    assert sections[-1]["effectiveThreshold"] == before["effectiveThreshold"]  # held
    assert sections[-1]["readings"] == [
        {"signal": "queueDepth", "target": 4.0, "problem": "unreachable"}
    ]


def test_a_value_that_is_not_a_number_holds_with_no_data_and_is_not_written() -> None:
    """NaN (e.g. a quantile over no requests) is no reading: it is neither a value in
    status (JSON has no NaN) nor a different section at every evaluation (NaN != NaN)."""
    first, again = run([math.nan, math.nan])
    assert first == again
    assert first["reason"] == Why.NO_DATA
    assert "returned nan" in first["message"]
    assert "value" not in first["readings"][0]


def test_a_section_from_an_older_operator_is_replaced_once() -> None:
    """Its lastEvaluationTime and reading times go with the first write."""
    old = {
        "effectiveThreshold": 0.5,
        "baselineThreshold": 0.5,
        "reason": "AtBaseline",
        "message": "queueDepth 3.5 (target 4): holding 0.5",
        "lastEvaluationTime": "2023-11-14T22:13:00Z",
        "readings": [{"signal": "queueDepth", "target": 4, "value": 3.5, "time": "x"}],
    }
    first, again = run([3.5, 3.5], start=old)
    assert first != old
    assert "lastEvaluationTime" not in first
    assert again == first


def test_the_message_shows_a_value_as_the_reading_does() -> None:
    (out,) = run([41234.5])
    assert out["readings"][0]["value"] == 41200.0
    assert "queueDepth 41200 (target 4)" in out["message"]
