"""Watch a policy file (a mounted ConfigMap too: kubelet swaps a symlink) by polling
its status and content; changes go to the reloader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

from hybridroute_router.policy_source.reloader import Reloader

log = logging.getLogger("hybridroute.router.policy")


class FileWatcher:
    def __init__(self, path: str | Path, reloader: Reloader, *, interval: float = 1.0) -> None:
        self.path = Path(path)
        self.reloader = reloader
        self.interval = interval
        self._stamp: tuple[int, int, int] | None = None
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
