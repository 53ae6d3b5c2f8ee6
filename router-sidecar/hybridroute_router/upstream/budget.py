"""A retry budget: retries may add at most ``percent`` % on top of requests over a
sliding window (two half-window buckets), plus a small floor so a quiet router can still
retry. The clock is passed in."""

from __future__ import annotations


class RetryBudget:
    __slots__ = ("_bucket_start", "_cur", "_prev", "floor", "percent", "window")

    def __init__(self, percent: float, *, window: float = 10.0, floor: int = 3) -> None:
        self.percent = percent
        self.window = window
        self.floor = floor
        self._bucket_start = 0.0
        self._prev = [0, 0]  # requests, retries
        self._cur = [0, 0]

    def _roll(self, now: float) -> None:
        half = self.window / 2
        if now - self._bucket_start >= half:
            self._prev = self._cur if now - self._bucket_start < self.window else [0, 0]
            self._cur = [0, 0]
            self._bucket_start = now

    def record_request(self, now: float) -> None:
        self._roll(now)
        self._cur[0] += 1

    def try_spend(self, now: float) -> bool:
        """Take one retry from the budget; False when it is exhausted."""
        self._roll(now)
        requests = self._prev[0] + self._cur[0]
        retries = self._prev[1] + self._cur[1]
        if retries >= self.floor + requests * self.percent / 100.0:
            return False
        self._cur[1] += 1
        return True
