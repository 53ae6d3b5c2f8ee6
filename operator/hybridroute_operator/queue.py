"""Coalescing work queue: many triggers for one route -> one reconcile at a time, and one
more pass if something changed meanwhile. Level-based: the work reads the latest state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
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
    ) -> None:
        """``work(key)`` returns False to be retried after ``retry_seconds``."""
        self._work = work
        self._sem = asyncio.Semaphore(max_parallel)
        self._retry = retry_seconds
        self._tasks: dict[Hashable, asyncio.Task[None]] = {}
        self._dirty: set[K] = set()
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._closed = False

    def request(self, key: K) -> None:
        if self._closed:
            return
        if key in self._tasks:
            self._dirty.add(key)
            return
        self._tasks[key] = asyncio.get_running_loop().create_task(self._run(key))

    def request_later(self, key: K, delay: float) -> None:
        if self._closed or key in self._timers:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(key, None)
            self.request(key)

        self._timers[key] = loop.call_later(delay, fire)

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def _run(self, key: K) -> None:
        try:
            while True:
                self._dirty.discard(key)
                async with self._sem:
                    try:
                        ok = await self._work(key)
                    except Exception:
                        log.exception("reconcile crashed", extra={"route": str(key)})
                        ok = False
                if not ok:
                    self.request_later(key, self._retry)
                if key not in self._dirty:
                    return
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
