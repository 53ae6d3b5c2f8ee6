"""The JSON-lines log sinks never fail or delay a request, but records they lose are
counted."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from hybridroute_localstack.eventually import eventually
from hybridroute_router.telemetry.logs import JsonlSink
from hybridroute_router.telemetry.metrics import Metrics

pytestmark = pytest.mark.unit


def _dropped(metrics: Metrics, log: str) -> float:
    value = metrics.registry.get_sample_value("hybridroute_log_records_dropped_total", {"log": log})
    return value or 0.0


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
async def test_records_lost_to_a_full_disk_are_counted() -> None:
    metrics = Metrics()
    sink = JsonlSink("/dev/full", dropped=metrics.log_dropped.labels("decision"))
    for i in range(3):
        sink.write({"n": i})
    sink.flush()  # ENOSPC: swallowed, counted
    await sink.aclose()
    assert _dropped(metrics, "decision") == 3.0


async def test_records_for_a_log_that_cannot_be_opened_are_counted(tmp_path: Path) -> None:
    metrics = Metrics()
    sink = JsonlSink(
        str(tmp_path / "missing-dir" / "f.jsonl"), dropped=metrics.log_dropped.labels("feedback")
    )
    sink.write({"n": 1})
    sink.write({"n": 2})
    await sink.aclose()
    assert not sink.writable
    assert _dropped(metrics, "feedback") == 2.0


async def test_written_records_are_not_counted_as_dropped(tmp_path: Path) -> None:
    metrics = Metrics()
    path = tmp_path / "ok.jsonl"
    sink = JsonlSink(str(path), dropped=metrics.log_dropped.labels("decision"))
    sink.write({"n": 1})
    await sink.aclose()
    assert path.read_text() == '{"n":1}\n'
    assert _dropped(metrics, "decision") == 0.0


def _record(i: int) -> dict[str, str]:
    return {"n": f"{i:04d}", "pad": "x" * 200}  # every line the same length


LINE = len(msgspec.json.encode(_record(0))) + 1


class FullFifo:
    """A FIFO whose pipe is full (of blank lines) and that nobody reads yet: a writer
    blocks on it at once. ``read_end`` is non-blocking."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.read_end = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        filler = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        fcntl.fcntl(filler, fcntl.F_SETPIPE_SZ, 4096)  # the smallest pipe: quick to fill
        try:
            while True:
                os.write(filler, b"\n" * 512)
        except BlockingIOError:
            pass
        finally:
            os.close(filler)

    def read_to_the_end(self, into: bytearray) -> threading.Thread:
        """Read in a thread until every writer has closed the FIFO."""

        def run() -> None:
            os.set_blocking(self.read_end, True)
            while chunk := os.read(self.read_end, 1 << 16):
                into.extend(chunk)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def close_reader(self) -> None:
        if self.read_end >= 0:
            os.close(self.read_end)
            self.read_end = -1


@pytest.fixture
def full_fifo(tmp_path: Path) -> Iterator[FullFifo]:
    fifo = FullFifo(tmp_path / "log.fifo")
    try:
        yield fifo
    finally:
        fifo.close_reader()


async def test_batches_beyond_the_backlog_bound_are_dropped_and_counted_and_close_writes_the_rest(
    full_fifo: FullFifo,
) -> None:
    metrics = Metrics()
    dropped = metrics.log_dropped.labels("decision")
    sink = JsonlSink(str(full_fifo.path), dropped=dropped, backlog_bytes=10 * LINE)
    for i in range(25):  # one record per batch; the writer is stuck on the first
        sink.write(_record(i))
        sink.flush()  # returns at once although nobody reads
        assert sink.backlog <= 10 * LINE
    assert sink.backlog == 10 * LINE
    assert _dropped(metrics, "decision") == 15.0  # the 15 batches past the bound
    got = bytearray()
    reader = full_fifo.read_to_the_end(got)  # the reader comes back
    await asyncio.wait_for(sink.aclose(), timeout=30)
    reader.join(timeout=30)
    assert not reader.is_alive()  # the writer closed its end once everything was written
    lines = [json.loads(line) for line in got.split(b"\n") if line]
    assert [line["n"] for line in lines] == [f"{i:04d}" for i in range(10)]  # in order
    assert _dropped(metrics, "decision") == 15.0
    assert sink.backlog == 0


async def test_close_gives_up_on_a_reader_that_never_comes_back_and_counts_what_was_queued(
    full_fifo: FullFifo,
) -> None:
    metrics = Metrics()
    dropped = metrics.log_dropped.labels("feedback")
    sink = JsonlSink(str(full_fifo.path), dropped=dropped, close_seconds=0.2)
    for i in range(3):
        sink.write(_record(i))
        sink.flush()
    sink.write(_record(3))  # still in the sink's buffer: handed over by close
    await asyncio.wait_for(sink.aclose(), timeout=30)  # bounded, not at the reader's pace
    # what was still queued is dropped (the first batch too, unless its write had begun:
    # that write waits on the pipe)
    assert _dropped(metrics, "feedback") >= 3.0
    full_fifo.close_reader()  # the write under way fails (EPIPE): counted too
    eventually(lambda: _dropped(metrics, "feedback") == 4.0, "the last record counted", 10)
    assert sink.backlog == 0
