"""Coalescing work queue: many triggers for one route -> one reconcile at a time, and one
more pass if something changed meanwhile. Level-based: the work reads the latest state.

Urgent work (a new generation, a child to restore, a retry) may use every slot; status
refreshes share at most a quarter of them, so a burst of readiness events never delays
the children of a route that was just created."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("hybridroute.operator")
K = TypeVar("K", bound=Hashable)


class Coalescer(Generic[K]):
    def __init__(
        self,
        work: Callable[[K], Awaitable[bool]],
        *,
        max_parallel: int = 16,
        retry_seconds: float = 5.0,
        max_retry_seconds: float = 300.0,
    ) -> None:
        """``work(key)`` returns False to be retried: after ``retry_seconds``, doubling
        with each further failure up to ``max_retry_seconds``."""
        self._work = work
        self._slots = asyncio.Semaphore(max_parallel)
        self._background = asyncio.Semaphore(max(1, max_parallel // 4))
        self._retry = retry_seconds
        self._max_retry = max_retry_seconds
        self._failures: dict[K, int] = {}
        self._tasks: dict[K, asyncio.Task[None]] = {}
        self._dirty: dict[K, bool] = {}  # key -> urgent
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._closed = False

    def request(self, key: K, *, urgent: bool = True) -> None:
        if self._closed:
            return
        if key in self._tasks:
            self._dirty[key] = self._dirty.get(key, False) or urgent
            return
        self._tasks[key] = asyncio.get_running_loop().create_task(self._run(key, urgent))

    def request_later(self, key: K, delay: float, *, urgent: bool = False) -> None:
        """Reconcile after ``delay``; requests while one is pending join it."""
        if self._closed or key in self._timers:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(key, None)
            self.request(key, urgent=urgent)

        self._timers[key] = loop.call_later(delay, fire)

    def retry_delay(self, key: K) -> float:
        """Count one more failure of ``key``; the delay before its next attempt."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        return float(min(self._retry * 2 ** (failures - 1), self._max_retry))

    @property
    def busy(self) -> int:
        return len(self._tasks)

    @contextlib.asynccontextmanager
    async def _slot(self, urgent: bool) -> AsyncIterator[None]:
        if urgent:
            async with self._slots:
                yield
        else:
            async with self._background, self._slots:
                yield

    async def _run(self, key: K, urgent: bool) -> None:
        try:
            while True:
                self._dirty.pop(key, None)
                async with self._slot(urgent):
                    try:
                        ok = await self._work(key)
                    except Exception:
                        log.exception("reconcile crashed", extra={"route": str(key)})
                        ok = False
                if ok:
                    self._failures.pop(key, None)
                else:
                    self.request_later(key, self.retry_delay(key), urgent=True)
                if key not in self._dirty:
                    return
                urgent = self._dirty[key]
        finally:
            self._tasks.pop(key, None)

    async def close(self, grace_seconds: float = 10.0) -> None:
        """Graceful: no new work; running reconciles get ``grace_seconds`` to finish."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
