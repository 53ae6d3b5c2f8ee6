"""The threshold control law: table-driven cases and properties (bounds, step size,
convergence without oscillation, monotonicity in load)."""

from __future__ import annotations

import itertools

import pytest
from hybridroute_operator.adaptation.law import PRESSURE, Bounds, Previous, Reading, Why, step
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit
NOW = 1_000_000.0
B = Bounds(
    baseline=0.5, min=0.3, max=0.8, max_step=0.05, cooldown=120, hysteresis=0.1, stale_after=60
)


def queue(value: float | None, target: float = 4.0, age: float = 1.0, **kw: object) -> Reading:
    return Reading("queueDepth", target, value, None if value is None else NOW - age, **kw)  # type: ignore[arg-type]


def p99(value: float, **kw: object) -> Reading:
    return Reading("p99Latency", 2.0, value, NOW - 1, **kw)  # type: ignore[arg-type]


CASES = [
    # (readings, previous threshold, last change age s, expected threshold, reason)
    ([queue(8)], 0.5, None, 0.55, Why.RELIEVING),  # pressure 2: a full step
    ([queue(5)], 0.5, None, 0.5 + 0.05 * 0.25, Why.RELIEVING),  # pressure 1.25: a quarter
    ([queue(6)], 0.5, None, 0.525, Why.RELIEVING),  # pressure 1.5: half a step
    ([queue(40)], 0.78, None, 0.8, Why.RELIEVING),  # capped by max
    ([queue(40)], 0.8, None, 0.8, Why.AT_MAXIMUM),
    ([queue(3.8)], 0.6, 10, 0.6, Why.WITHIN_TARGET),  # in the hysteresis band
    ([queue(4.0)], 0.6, 10, 0.6, Why.WITHIN_TARGET),  # exactly at target
    ([queue(0)], 0.6, 10, 0.6, Why.COOLDOWN),  # cleared, but changed 10 s ago
    ([queue(0)], 0.6, 500, 0.55, Why.RETURNING),  # cleared, cooldown over
    ([queue(0)], 0.52, 500, 0.5, Why.RETURNING),  # never below the baseline
    ([queue(0)], 0.5, None, 0.5, Why.AT_BASELINE),
    ([queue(0)], 0.35, 5, 0.4, Why.RETURNING),  # below the baseline: climbs, no cooldown
    ([queue(None, problem="unreachable", detail="refused")], 0.7, 5, 0.7, Why.UNREACHABLE),
    ([queue(None, problem="no_data", detail="q")], 0.7, 5, 0.7, Why.NO_DATA),
    ([queue(None, problem="ambiguous", detail="q")], 0.7, 5, 0.7, Why.AMBIGUOUS),
    ([queue(None, problem="error", detail="q")], 0.7, 5, 0.7, Why.QUERY_FAILED),
    ([queue(None, problem="config", detail="no url")], 0.7, 5, 0.7, Why.NOT_CONFIGURED),
    ([queue(40, age=61)], 0.6, None, 0.6, Why.STALE),  # stale high load: no move
    ([queue(0, age=61)], 0.6, 500, 0.6, Why.STALE),  # stale low load: no move either
    ([queue(8), queue(None, problem="error", detail="q")], 0.6, None, 0.6, Why.QUERY_FAILED),
    ([queue(None, problem="no_data", detail="q")], None, None, 0.5, Why.NO_DATA),  # first: baseline
    ([queue(1, target=4), Reading("p99Latency", 2.0, 4.0, NOW)], 0.5, None, 0.55, Why.RELIEVING),
    ([queue(0)], 0.95, None, 0.75, Why.RETURNING),
    ([p99(4.0, settle=30)], 0.6, 10, 0.6, Why.SETTLING),  # a rate: the last step not shown yet
    ([p99(4.0, settle=30)], 0.6, 31, 0.65, Why.RELIEVING),  # shown: next step
    ([queue(3.2)], 0.6, 500, 0.6 - 0.05 * 0.25, Why.RETURNING),  # just under the band: small
    # out of bounds: clamped, then a step
]


@pytest.mark.parametrize(("readings", "prev", "age", "expected", "why"), CASES)
def test_control_law_table(
    readings: list[Reading], prev: float | None, age: float | None, expected: float, why: Why
) -> None:
    previous = Previous(prev, None if age is None else NOW - age)
    result = step(readings, previous, B, NOW)
    assert result.threshold == pytest.approx(expected)
    assert result.reason is why, result.message


def test_the_worst_signal_is_named_in_the_message() -> None:
    readings = [queue(1), Reading("p99Latency", 2.0, 5.0, NOW)]
    result = step(readings, Previous(0.5), B, NOW)
    assert result.worst is not None
    assert result.worst.signal == "p99Latency"
    assert "p99Latency 5 (target 2)" in result.message


def test_holding_messages_quote_the_problem() -> None:
    bad = queue(None, problem="error", detail="error: bad_data: parse error (query: sum(x{)")
    result = step([bad], Previous(0.7), B, NOW)
    assert "sum(x{)" in result.message
    assert "holding 0.7" in result.message
    assert not result.data_ok


bounds_st = st.builds(
    lambda lo, span, base, step_, hyst: Bounds(
        baseline=lo + span * base,
        min=lo,
        max=lo + span,
        max_step=step_,
        cooldown=60,
        hysteresis=hyst,
        stale_after=60,
    ),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.5),
    st.floats(0.0, 1.0),
    st.floats(0.01, 0.5),
    st.floats(0.0, 0.5),
)
loads = st.floats(0.0, 1000.0)


@settings(max_examples=300, deadline=None)
@given(bounds_st, st.floats(0.0, 1.0), loads, st.floats(0.0, 1000.0))
def test_never_leaves_the_bounds_nor_steps_more_than_max_step(
    b: Bounds, position: float, load: float, since: float
) -> None:
    prev = b.min + (b.max - b.min) * position
    result = step([queue(load)], Previous(prev, NOW - since), b, NOW)
    assert b.min - 1e-9 <= result.threshold <= b.max + 1e-9
    assert abs(result.threshold - prev) <= b.max_step + 1e-9


@settings(max_examples=300, deadline=None)
@given(bounds_st, st.floats(0.0, 1.0), loads, loads, st.floats(0.0, 1000.0))
def test_monotone_in_load(b: Bounds, position: float, a: float, c: float, since: float) -> None:
    prev = Previous(b.min + (b.max - b.min) * position, NOW - since)
    low, high = sorted((a, c))
    assert step([queue(low)], prev, b, NOW).threshold <= step([queue(high)], prev, b, NOW).threshold


@settings(max_examples=200, deadline=None)
@given(bounds_st, st.floats(0.0, 1.0), loads)
def test_converges_without_oscillating_under_constant_input(
    b: Bounds, position: float, load: float
) -> None:
    """Constant readings: the threshold moves one way only, then stays put."""
    threshold, last_change, now = b.min + (b.max - b.min) * position, None, NOW
    path = [threshold]
    for _ in range(400):
        now += 30
        reading = Reading("queueDepth", 4.0, load, now)
        result = step([reading], Previous(threshold, last_change), b, now)
        if result.threshold != threshold:
            last_change = now
        threshold = result.threshold
        path.append(threshold)
    moves = [y - x for x, y in itertools.pairwise(path) if abs(y - x) > 1e-12]
    assert all(m > 0 for m in moves) or all(m < 0 for m in moves)
    assert path[-1] == path[-2] == path[-20]  # settled


def test_load_removed_returns_to_the_baseline_after_cooldowns() -> None:
    threshold, last, now = 0.5, None, NOW
    for _ in range(10):  # saturation
        now += 30
        r = step([Reading("queueDepth", 4.0, 20, now)], Previous(threshold, last), B, now)
        last = now if r.threshold != threshold else last
        threshold = r.threshold
    assert threshold == pytest.approx(0.8)
    seen = []
    for _ in range(40):  # idle
        now += 30
        r = step([Reading("queueDepth", 4.0, 0, now)], Previous(threshold, last), B, now)
        last = now if r.threshold != threshold else last
        threshold = r.threshold
        seen.append(r.reason)
    assert threshold == pytest.approx(0.5)
    assert Why.COOLDOWN in seen
    assert seen[-1] is Why.AT_BASELINE


def test_a_step_back_waits_for_a_cooldown_free_of_pressure() -> None:
    """Stabilization: pressure seen 10 s ago (a noisy signal in the band) restarts the
    cooldown even though the last change was long ago."""
    previous = Previous(0.6, last_change=NOW - 500, last_pressure=NOW - 10)
    held = step([queue(0)], previous, B, NOW)
    assert (held.threshold, held.reason) == (0.6, Why.COOLDOWN)
    assert held.reason not in PRESSURE  # a cooldown is no pressure of its own
    quiet = step([queue(0)], Previous(0.6, NOW - 500, NOW - 500), B, NOW)
    assert (quiet.threshold, quiet.reason) == (pytest.approx(0.55), Why.RETURNING)
    in_band = step([queue(3.8)], Previous(0.6, NOW - 500, NOW - 500), B, NOW)
    assert in_band.reason in PRESSURE  # in the band: the next step back waits again


def test_the_first_evaluation_after_pressure_starts_the_cooldown() -> None:
    """Status keeps no time per evaluation (it is written on change only): an evaluation
    after one whose reason says pressure counts the pressure as seen now, so a cooldown
    starts at most one interval late, never early."""
    after = Previous(0.6, last_change=NOW - 500, last_pressure=NOW - 500, pressured=True)
    held = step([queue(0)], after, B, NOW)
    assert (held.threshold, held.reason) == (0.6, Why.COOLDOWN)
    assert "until " in held.message
    assert "s more" not in held.message  # a countdown would change at every evaluation
