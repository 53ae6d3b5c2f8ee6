"""The thread that writes a JSON-lines log, so the event loop never waits on a reader.

The event loop hands over whole batches (about 64 KiB each, see ``logs.FLUSH_BYTES``);
a dedicated thread writes them with blocking ``os.write`` calls. What was handed over
and is not yet written (queued, or in the write under way) is bounded by
``backlog_bytes``: a batch that would pass the bound is dropped whole and its records
counted, so a reader that stalls (a full stdout pipe, ``kubectl logs -f`` over a slow
link, a stuck disk) costs memory up to the bound and lost lines, never a waiting
request. A thread rather than a non-blocking descriptor: ``O_NONBLOCK`` would be set on
the open file description that stdout shares with the parent process and the other
writers of the same pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections import deque
from typing import Protocol

log = logging.getLogger("hybridroute.router.logs")

MAX_BACKLOG_BYTES = 4 * 1024 * 1024
"""Bytes handed to a log's writer and not yet written, at most (about 9,000 decision
records of 450 bytes): beyond it, new batches are dropped and counted."""
CLOSE_SECONDS = 5.0
"""How long closing a log waits for its writer to write what is queued."""


class Dropped(Protocol):
    """Counts lost records (a Prometheus counter child: safe to call from any thread)."""

    def inc(self, amount: float = 1) -> None: ...


class LogWriter:
    """Writes batches handed over by :meth:`submit` to ``fd`` (owned: closed at the end)
    from its own daemon thread, started by the first batch."""

    def __init__(self, fd: int, name: str, *, backlog_bytes: int, dropped: Dropped | None) -> None:
        self._fd = fd
        self._limit = backlog_bytes
        self._dropped = dropped
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[tuple[bytes, int]] = deque()
        self._pending = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def backlog(self) -> int:
        """Bytes handed over and not yet written (queued or being written)."""
        return self._pending

    def submit(self, data: bytes, records: int, *, bounded: bool = True) -> bool:
        """Queue ``data`` (``records`` lines) for the thread, without waiting. False: it
        was dropped and counted (over the bound, or the writer is closed). ``bounded``
        False: queue it even over the bound (the last batch, at close)."""
        with self._cond:
            fits = not bounded or self._pending + len(data) <= self._limit
            accepted = fits and not self._closing
            if accepted:
                self._queue.append((data, records))
                self._pending += len(data)
                self._cond.notify()
        if not accepted:
            self._lost(records)
        elif self._thread.ident is None:
            self._thread.start()
        return accepted

    def _lost(self, records: int) -> None:
        if self._dropped is not None and records:
            self._dropped.inc(records)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    break  # closing, and everything queued is written
                data, records = self._queue.popleft()
            written = self._write(data)
            with self._cond:
                self._pending -= len(data)
            if not written:
                self._lost(records)
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _write(self, data: bytes) -> bool:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError:  # a full disk, a reader gone (EPIPE): never fails a request
            return False
        return True

    async def aclose(self, wait_seconds: float = CLOSE_SECONDS) -> None:
        """Let the thread write what is queued, waiting ``wait_seconds`` at most; what
        is still queued then is dropped and counted (a write under way finishes or fails
        on its own, and the thread then closes the descriptor)."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify()
        if self._thread.ident is None:  # never started: nothing was queued
            with contextlib.suppress(OSError):
                os.close(self._fd)
            return
        await asyncio.to_thread(self._thread.join, wait_seconds)
        if not self._thread.is_alive():
            return
        with self._cond:
            left = list(self._queue)
            self._queue.clear()
            self._pending -= sum(len(data) for data, _ in left)
        records = sum(n for _, n in left)
        self._lost(records)
        log.warning(
            "%s: %d log records not written within %.1fs of closing (reader too slow); dropped",
            self._thread.name,
            records,
            wait_seconds,
        )
