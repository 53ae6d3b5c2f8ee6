"""A decision log nobody reads never stalls the router: the ``hybridroute-router``
process writes its decision log to a stdout pipe that the test leaves full (a container
runtime's log pipe under pressure, ``kubectl logs -f`` over a slow link), keeps answering
every request, counts the records it could not keep, and writes every other record once
the pipe is read again."""

from __future__ import annotations

import fcntl
import json
import os
import re
import termios
from pathlib import Path

import httpx
import pytest
from hybridroute_localstack.eventually import eventually
from hybridroute_router.telemetry.logs import MAX_BACKLOG_BYTES
from router_harness import FakeUpstream, policy_doc, router_process, serving

pytestmark = pytest.mark.integration

PROMPT = "Summarise the following notes. " + "note " * 12_000  # a ~60 KB decision record
DROPPED = re.compile(r'^hybridroute_log_records_dropped_total\{log="decision"\} (\S+)$', re.M)


def _dropped(client: httpx.Client) -> float:
    found = DROPPED.search(client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def _unread(fd: int) -> int:
    """Bytes waiting in the pipe whose read end is ``fd``."""
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, "little")


def _drained(read_end: int, got: bytearray, client: httpx.Client, n: int) -> bool:
    """Read what the pipe holds; True once every record arrived or was counted."""
    while True:
        try:
            chunk = os.read(read_end, 1 << 20)
        except BlockingIOError:
            break
        got.extend(chunk)
    return got.count(b"\n") + _dropped(client) == n


def _serve_through_a_full_pipe(url: str, read_end: int, n: int) -> None:
    # the normal request timeout: the router must not wait on its log
    with httpx.Client(base_url=url, timeout=10) as client:
        body = {"model": "hybrid", "messages": [{"role": "user", "content": PROMPT}]}
        for _ in range(n):
            assert client.post("/v1/chat/completions", json=body).status_code == 200
        # nobody has read the pipe: it is full, the router's writer waits on it
        pipe_size = fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ)
        eventually(lambda: _unread(read_end) >= pipe_size - 4096, "the pipe full")
        dropped = eventually(lambda: _dropped(client), "records counted as dropped")
        assert 0 < dropped < n
        # the pipe is read again: every record not counted arrives, whole
        os.set_blocking(read_end, False)
        got = bytearray()
        eventually(
            lambda: _drained(read_end, got, client, n),
            "every record written or counted as dropped",
        )
    records = [json.loads(line) for line in got.splitlines()]
    assert all(rec["prompt"] == PROMPT and rec["status"] == 200 for rec in records)
    assert len({rec["request_id"] for rec in records}) == len(records)


def test_a_full_stdout_pipe_neither_stalls_the_router_nor_loses_records_uncounted(
    tmp_path: Path,
) -> None:
    # Enough records to fill the pipe and the writer's whole backlog, and then some.
    n = MAX_BACKLOG_BYTES // len(PROMPT) + 20
    up = FakeUpstream("up", answer="done")
    with serving(up) as s:
        path = tmp_path / "policy.json"
        doc = policy_doc(
            s.url, {"v1": s.url}, confidence={"enabled": False}, logging={"logPrompts": True}
        )
        path.write_text(json.dumps(doc))
        read_end, write_end = os.pipe()
        try:
            with router_process(
                path, "--decision-log", "-", stdout=write_end, log_path=tmp_path / "router.log"
            ) as r:
                os.close(write_end)  # the router holds the only write end
                write_end = -1
                try:
                    _serve_through_a_full_pipe(r.url, read_end, n)
                finally:  # a router still writing gets EPIPE, not a hang, and can stop
                    os.close(read_end)
                    read_end = -1
        finally:
            for fd in (read_end, write_end):
                if fd >= 0:
                    os.close(fd)
