"""A circuit breaker per upstream. The clock is passed in, so the states are testable
without waiting: closed -> open after N consecutive failures -> half-open after the open
period (one probe request) -> closed on success, open again on failure."""

from __future__ import annotations

from typing import Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    __slots__ = ("_failures", "_open_until", "_probing", "failure_threshold", "open_seconds")

    def __init__(self, failure_threshold: int, open_seconds: float) -> None:
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self._failures = 0
        self._open_until: float | None = None
        self._probing = False

    def state(self, now: float) -> State:
        if self._open_until is None:
            return "closed"
        if now < self._open_until:
            return "open"
        return "half-open"

    def allow(self, now: float) -> bool:
        """May a request go out now? In half-open, only one probe at a time."""
        state = self.state(now)
        if state == "closed":
            return True
        if state == "open" or self._probing:
            return False
        self._probing = True
        return True

    def release(self) -> None:
        """End a probe that recorded neither success nor failure (the request was
        cancelled or failed in the router itself), so another probe may go out."""
        self._probing = False

    def is_open(self, now: float) -> bool:
        """Open, or half-open with its probe already out: callers should avoid it."""
        state = self.state(now)
        return state == "open" or (state == "half-open" and self._probing)

    def success(self) -> bool:
        """Record a success; True when this closed a circuit that was open."""
        was_open = self._open_until is not None
        self._failures = 0
        self._open_until = None
        self._probing = False
        return was_open

    def failure(self, now: float) -> None:
        self._probing = False
        self._failures += 1
        if self._open_until is not None or self._failures >= self.failure_threshold:
            self._open_until = now + self.open_seconds
