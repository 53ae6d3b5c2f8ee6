"""The threshold control law (pure): readings, the previous state, bounds and the time in;
the effective complexity threshold, a reason and a message out.

A higher threshold sends more traffic to the small model, so pressure on the large model
(or on the budget) raises it. Per evaluation:

1. Any reading missing (a failed query) or older than ``stale_after`` seconds: hold the
   last value, with a reason naming the problem. No data is never read as "no load".
2. The worst signal is the one with the highest pressure, ``value / target``.
3. Pressure above 1: step up by ``max_step x clamp(pressure - 1, 1/4, 1)`` (larger
   overload, larger step; never more than ``max_step``), up to ``max``. A signal read
   as a rate over a window (latency, errors, spend) only shows a change fully after
   that window, so its next step waits until ``settle`` seconds have passed since the
   last change (gauges such as the queue have no such wait); otherwise relief steps
   are never delayed.
4. Pressure within the hysteresis band ``[1 - hysteresis, 1]``: hold.
5. Pressure under the band: step back toward the baseline by
   ``max_step x clamp(1 - pressure / (1 - hysteresis), 1/4, 1)`` (no load: a full step;
   close to the band: a small one), but only once ``cooldown`` seconds have passed both
   since the last change and since the pressure (at or over the band) was last seen: a
   stabilization window, so a noisy signal dipping under the band now and then does not
   walk the threshold back into the overload. Status records no time per evaluation (it
   is written only on change), so the pressure counts as seen until the first
   evaluation after one whose reason says pressure (``PRESSURE``): the cooldown starts
   at most one interval later than the pressure ended, never earlier.
6. Below the baseline (possible only when the baseline was raised or the previous value
   came from elsewhere) the threshold climbs back to it without waiting.

The result always lies within ``[min, max]`` and, from a previous value within them,
differs from it by at most ``max_step``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

MIN_STEP_SHARE = 0.25  # the smallest relief step, as a share of max_step
EPSILON = 1e-9


class Why(StrEnum):
    """The bounded reasons of an evaluation (the LoadAdapted condition's reason)."""

    RELIEVING = "RelievingPressure"
    SETTLING = "Settling"
    AT_MAXIMUM = "AtMaximum"
    WITHIN_TARGET = "WithinTarget"
    COOLDOWN = "Cooldown"
    RETURNING = "ReturningToBaseline"
    AT_BASELINE = "AtBaseline"
    STALE = "StaleData"
    NO_DATA = "NoData"
    QUERY_FAILED = "QueryFailed"
    AMBIGUOUS = "AmbiguousQuery"
    UNREACHABLE = "PrometheusUnreachable"
    NOT_CONFIGURED = "PrometheusNotConfigured"


PRESSURE = frozenset({Why.RELIEVING, Why.SETTLING, Why.AT_MAXIMUM, Why.WITHIN_TARGET})
"""Reasons of an evaluation that found the worst signal at or over the band."""
HOLDING = frozenset(
    {Why.STALE, Why.NO_DATA, Why.QUERY_FAILED, Why.AMBIGUOUS, Why.UNREACHABLE, Why.NOT_CONFIGURED}
)
PROBLEM_REASONS = {
    "no_data": Why.NO_DATA,
    "ambiguous": Why.AMBIGUOUS,
    "error": Why.QUERY_FAILED,
    "unreachable": Why.UNREACHABLE,
    "config": Why.NOT_CONFIGURED,
}


@dataclass(frozen=True)
class Reading:
    """One signal's latest value (``None`` when its query failed: ``problem`` says how)."""

    signal: str
    target: float
    value: float | None
    time: float | None  # unix seconds of the sample
    problem: str | None = None  # no_data | ambiguous | error | unreachable | config
    detail: str = ""  # the problem in words, with the query
    query: str = ""
    settle: float = 0.0  # seconds a change takes to show fully (the query's rate window)

    @property
    def pressure(self) -> float:
        return (self.value or 0.0) / self.target


@dataclass(frozen=True)
class Bounds:
    baseline: float
    min: float
    max: float
    max_step: float
    cooldown: float  # seconds
    hysteresis: float
    stale_after: float  # seconds: two intervals


@dataclass(frozen=True)
class Previous:
    """What the last evaluation left in status (``None``: nothing yet)."""

    threshold: float | None = None
    last_change: float | None = None  # unix seconds
    last_pressure: float | None = None  # unix seconds: when the last pressure ended
    pressured: bool = False  # the last evaluation's reason is one of PRESSURE


@dataclass(frozen=True)
class Result:
    threshold: float
    reason: Why
    message: str
    worst: Reading | None = None

    @property
    def data_ok(self) -> bool:
        return self.reason not in HOLDING


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def relief_step(pressure: float, max_step: float) -> float:
    """How far one evaluation raises the threshold at this pressure (> 1)."""
    return max_step * clamp(pressure - 1.0, MIN_STEP_SHARE, 1.0)


def return_step(pressure: float, max_step: float, hysteresis: float) -> float:
    """How far one evaluation lowers the threshold at this pressure (under the band)."""
    return max_step * clamp(1.0 - pressure / (1.0 - hysteresis), MIN_STEP_SHARE, 1.0)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def shown(value: float) -> str:
    """A reading as status shows it: three significant digits (2.31, 41200)."""
    return f"{float(f'{value:.3g}'):g}"


def at(unix: float) -> str:
    """A time as status shows it (RFC 3339, seconds)."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(reading: Reading) -> str:
    value = "none" if reading.value is None else shown(reading.value)
    return f"{reading.signal} {value} (target {_fmt(reading.target)})"


def _problem(readings: Sequence[Reading], now: float, stale_after: float) -> Result | None:
    """A hold result when a reading is missing or stale (the first one wins). Messages
    name times, not ages: a steady problem reads the same at every evaluation."""
    for r in readings:
        if r.value is None or r.problem is not None:
            why = PROBLEM_REASONS.get(r.problem or "", Why.QUERY_FAILED)
            return Result(0.0, why, f"{r.signal}: {r.detail or r.problem}", r)
        if not math.isfinite(r.value):
            where = f" (query: {r.query})" if r.query else ""
            return Result(0.0, Why.NO_DATA, f"{r.signal}: the query returned {r.value}{where}", r)
    for r in readings:
        if r.time is None or now - r.time > stale_after:
            when = "of unknown time" if r.time is None else f"from {at(r.time)}"
            return Result(
                0.0,
                Why.STALE,
                f"{r.signal}: newest sample is {when} (limit {stale_after:.0f} s, two intervals)",
                r,
            )
    return None


def step(readings: Sequence[Reading], previous: Previous, bounds: Bounds, now: float) -> Result:
    """The effective threshold after one evaluation (see the module docstring)."""
    b = bounds
    start = b.baseline if previous.threshold is None else previous.threshold
    current = clamp(start, b.min, b.max)
    held = _problem(readings, now, b.stale_after)
    if held is not None:
        return Result(current, held.reason, f"holding {_fmt(current)}: {held.message}", held.worst)
    worst = max(readings, key=lambda r: r.pressure, default=None)
    pressure = worst.pressure if worst is not None else 0.0
    seen = describe(worst) if worst is not None else "no signals"
    if pressure > 1.0:
        return _relieve(worst, pressure, current, previous.last_change, now, b)
    if current < b.baseline - EPSILON:
        new = min(b.baseline, current + b.max_step)
        return _moved(new, Why.RETURNING, seen, current, worst)
    if pressure >= 1.0 - b.hysteresis or current <= b.baseline + EPSILON:
        why = Why.WITHIN_TARGET if current > b.baseline + EPSILON else Why.AT_BASELINE
        return Result(current, why, f"{seen}: holding {_fmt(current)}", worst)
    last_pressure = now if previous.pressured else previous.last_pressure
    quiet = [t for t in (previous.last_change, last_pressure) if t is not None]
    if quiet and now - max(quiet) < b.cooldown:
        return Result(
            current,
            Why.COOLDOWN,
            f"{seen}: pressure cleared; holding {_fmt(current)} until "
            f"{at(max(quiet) + b.cooldown)} (cooldown)",
            worst,
        )
    new = max(b.baseline, current - return_step(pressure, b.max_step, b.hysteresis))
    return _moved(new, Why.RETURNING, seen, current, worst)


def _moved(new: float, why: Why, seen: str, current: float, worst: Reading | None) -> Result:
    return Result(new, why, f"{seen}: {_fmt(current)} -> {_fmt(new)}", worst)


def _relieve(
    worst: Reading | None,
    pressure: float,
    current: float,
    last_change: float | None,
    now: float,
    b: Bounds,
) -> Result:
    """Over target: a step up, unless at the maximum or a rate signal is settling."""
    seen = describe(worst) if worst is not None else "no signals"
    settle = worst.settle if worst is not None else 0.0
    if last_change is not None and now - last_change < settle and current >= b.baseline:
        return Result(
            current,
            Why.SETTLING,
            f"{seen}: holding {_fmt(current)} until the last change shows in the "
            f"reading ({at(last_change + settle)})",
            worst,
        )
    up = relief_step(pressure, b.max_step)
    if current < b.baseline:
        up = max(up, min(b.max_step, b.baseline - current))
    new = min(b.max, current + up)
    if new <= current + EPSILON:
        msg = f"{seen}: at the maximum {_fmt(b.max)}"
        return Result(current, Why.AT_MAXIMUM, msg, worst)
    return _moved(new, Why.RELIEVING, seen, current, worst)
