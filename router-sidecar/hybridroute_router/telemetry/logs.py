"""JSON-lines sinks for the decision log and the feedback log.

Records are encoded and buffered in memory on the event loop; the buffer is handed to
the log's writer thread (:mod:`.logwriter`) every ``flush_seconds``, whenever it passes
``FLUSH_BYTES``, and on close. Logging costs no system call per request and the event
loop never waits on a write: a slow reader fills a bounded backlog, then batches are
dropped and counted (``hybridroute_log_records_dropped_total``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import Any

import msgspec

from hybridroute_router.telemetry.logwriter import (
    CLOSE_SECONDS,
    MAX_BACKLOG_BYTES,
    Dropped,
    LogWriter,
)

_encoder = msgspec.json.Encoder()
log = logging.getLogger("hybridroute.router.logs")
FLUSH_BYTES = 65536


def _open(path: str | None) -> int | None:
    """A descriptor of its own for the log (stdout duplicated), or None (logged)."""
    if path in (None, "-"):
        try:
            return os.dup(sys.stdout.fileno())
        except (AttributeError, OSError, ValueError) as exc:
            log.error("stdout cannot take the log (%s); its records are dropped", exc)
            return None
    assert path is not None
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:  # never fail the router over a log file
        log.error("cannot open log %s (%s); its records are dropped", path, exc.strerror)
        return None


class JsonlSink:
    def __init__(
        self,
        path: str | None,
        *,
        flush_seconds: float = 0.5,
        dropped: Dropped | None = None,
        backlog_bytes: int = MAX_BACKLOG_BYTES,
        close_seconds: float = CLOSE_SECONDS,
    ) -> None:
        """``path`` None or '-' writes to stdout; ``dropped`` counts records lost;
        ``backlog_bytes`` bounds what waits for a slow reader; closing waits
        ``close_seconds`` at most for the queued records to be written."""
        self.path = path
        self.dropped = dropped
        fd = _open(path)
        self._writer: LogWriter | None = None
        if fd is not None:
            name = f"hybridroute-log:{path or 'stdout'}"
            self._writer = LogWriter(fd, name, backlog_bytes=backlog_bytes, dropped=dropped)
        self._buf: list[bytes] = []
        self._size = 0
        self.flush_seconds = flush_seconds
        self.close_seconds = close_seconds
        self._task: asyncio.Task[None] | None = None

    @property
    def writable(self) -> bool:
        """Records go somewhere (False: switched off, or the file could not be opened)."""
        return self._writer is not None

    @property
    def backlog(self) -> int:
        """Bytes handed to the writer thread and not yet written."""
        return self._writer.backlog if self._writer is not None else 0

    def write(self, record: dict[str, Any]) -> None:
        line = _encoder.encode(record) + b"\n"
        self._buf.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES:  # small, regular hand-overs: no latency spikes
            self.flush()

    def flush(self, *, bounded: bool = True) -> None:
        """Hand the buffer to the writer thread (never waits; over the backlog bound the
        batch is dropped and counted)."""
        if self._buf:
            records = len(self._buf)
            data = b"".join(self._buf)
            self._buf.clear()
            self._size = 0
            if self._writer is None:
                self._lost(records)
            else:
                self._writer.submit(data, records, bounded=bounded)

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
        """Hand over the last records (even over the bound: they are in memory already)
        and wait, ``close_seconds`` at most, for the writer to write what is queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush(bounded=False)
        if self._writer is not None:
            await self._writer.aclose(self.close_seconds)


class NullSink(JsonlSink):
    """Discards records (decision log switched off)."""

    def __init__(self) -> None:
        self.path = None
        self.dropped = None
        self._writer = None
        self._buf = []
        self._size = 0
        self._task = None

    def write(self, record: dict[str, Any]) -> None:
        return None

    def flush(self, *, bounded: bool = True) -> None:
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
