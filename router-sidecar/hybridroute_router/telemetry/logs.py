"""JSON-lines sinks for the decision log and the feedback log.

Writes are buffered in memory and flushed by a background task (every
``flush_seconds``) and on close, so logging costs no system call per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from typing import IO, Any, Protocol

import msgspec

_encoder = msgspec.json.Encoder()
log = logging.getLogger("hybridroute.router.logs")
FLUSH_BYTES = 65536


class Dropped(Protocol):
    """Counts lost records (a Prometheus counter child)."""

    def inc(self, amount: float = 1) -> None: ...


class JsonlSink:
    def __init__(
        self, path: str | None, *, flush_seconds: float = 0.5, dropped: Dropped | None = None
    ) -> None:
        """``path`` None or '-' writes to stdout; ``dropped`` counts records lost."""
        self.path = path
        self.dropped = dropped
        self._owned = path not in (None, "-")
        self._fh: IO[bytes] | None = sys.stdout.buffer
        if self._owned and path is not None:
            try:
                self._fh = open(path, "ab")  # noqa: SIM115 - closed in aclose()
            except OSError as exc:  # never fail the router over a log file
                log.error("cannot open log %s (%s); its records are dropped", path, exc.strerror)
                self._fh = None
        self._buf: list[bytes] = []
        self._size = 0
        self.flush_seconds = flush_seconds
        self._task: asyncio.Task[None] | None = None

    @property
    def writable(self) -> bool:
        """Records go somewhere (False: switched off, or the file could not be opened)."""
        return self._fh is not None

    def write(self, record: dict[str, Any]) -> None:
        line = _encoder.encode(record) + b"\n"
        self._buf.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:  # small, regular writes: no latency spikes
            self.flush()

    def flush(self) -> None:
        if self._buf:
            records = len(self._buf)
            data = b"".join(self._buf)
            self._buf.clear()
            self._size = 0
            if self._fh is None:
                self._lost(records)
                return
            try:
                self._fh.write(data)
                self._fh.flush()
            except (OSError, ValueError):  # a full disk or closed stdout never fails a request
                self._lost(records)

    def _lost(self, records: int) -> None:
        if self.dropped is not None:
            self.dropped.inc(records)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flusher())

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.flush_seconds)
            self.flush()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()
        if self._owned and self._fh is not None:
            with contextlib.suppress(OSError):  # data still buffered on a full disk
                self._fh.close()


class NullSink(JsonlSink):
    """Discards records (decision log switched off)."""

    def __init__(self) -> None:
        self.path = None
        self.dropped = None
        self._fh = None
        self._buf = []
        self._size = 0
        self._task = None

    def write(self, record: dict[str, Any]) -> None:
        return None

    def flush(self) -> None:
        return None

    def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class JsonFormatter(logging.Formatter):
    """Process logs as JSON lines: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()
