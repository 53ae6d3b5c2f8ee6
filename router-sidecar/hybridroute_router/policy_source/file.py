"""Watch a policy file (a mounted ConfigMap too: kubelet swaps a symlink) by polling
its status and content; changes go to the reloader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from hybridroute_router.policy_source.reloader import Reloader

log = logging.getLogger("hybridroute.router.policy")


class FileWatcher:
    """``defer_to``: while it returns True (the ConfigMap watch is healthy), file changes
    are not applied: a mounted copy lags the API and could roll a newer policy back. The
    change is applied once ``defer_to`` turns False, if the file still differs."""

    def __init__(
        self,
        path: str | Path,
        reloader: Reloader,
        *,
        interval: float = 1.0,
        defer_to: Callable[[], bool] | None = None,
    ) -> None:
        self.path = Path(path)
        self.reloader = reloader
        self.interval = interval
        self.defer_to = defer_to
        self._stamp: tuple[int, int, int] | None = None
        self._ignored: tuple[int, int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size, st.st_ino

    def prime(self) -> None:
        """Remember the file as loaded at startup."""
        self._stamp = self._stat()

    async def check(self) -> None:
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return
        if self.defer_to is not None and self.defer_to():
            if stamp != self._ignored:  # counted once per change
                self._ignored = stamp
                self.reloader.rt.metrics.reloads.labels("file", "ignored").inc()
                log.info(
                    "policy file %s changed; ignored while the ConfigMap is followed", self.path
                )
            return
        self._stamp = stamp
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except OSError as exc:
            log.error("cannot read policy file %s: %s", self.path, exc)
            return
        await self.reloader.offer(text, source=str(self.path), kind="file")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.exception("policy file watch failed")

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
