"""100,000 generated requests against the real ``hybridroute-router`` process: no 5xx,
every error OpenAI-shaped, every refusal counted, the process alive at the end.

The cases (``fuzz_cases.py``): hypothesis seeds shaped like each POST endpoint's bodies,
each mutated into wire-level variants (truncated, invalid UTF-8, deeply nested, padded
past the body limit, chunked...). They are pipelined over a few keep-alive connections
with raw sockets and a C response parser, so the whole run costs about a minute of CI.
The upstream is a separate process that always answers, so any 5xx is the router's.
``HYBRIDROUTE_FUZZ_CASES`` changes the number of cases (e.g. more for a long local run).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httptools
import httpx
import msgspec
import pytest
import uvloop
from fuzz_cases import (
    BODY_LIMIT,
    CHAT,
    COMPLETIONS,
    EXPLAIN,
    FEEDBACK,
    TIER_HEADER,
    Case,
    cases,
    draw_seeds,
)
from router_harness import RouterProcess, free_port, policy_doc, router_process, wait_for

pytestmark = pytest.mark.integration

TOTAL = int(os.environ.get("HYBRIDROUTE_FUZZ_CASES", "100000"))
PER_SEED = 50
CONNECTIONS = 4
BATCH = 64
ALLOWED = {200, 202, 400, 404, 405, 413}
COUNTED = (CHAT, COMPLETIONS, EXPLAIN)  # refusals here are in hybridroute_requests_total
_decode = msgspec.json.Decoder().decode


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    port = free_port()
    script = Path(__file__).with_name("fuzz_upstream.py")
    proc = subprocess.Popen([sys.executable, str(script), "--port", str(port)])
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.post(f"{url}/v1/completions", content=b"{}").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=30)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def router(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RouterProcess]:
    work = tmp_path_factory.mktemp("fuzz-bulk")
    doc = policy_doc(
        upstream,
        {"v1": upstream, "v2": upstream},
        confidence={"enabled": True},
        shadow={"percent": 5},
        limits={"maxBodyBytes": BODY_LIMIT},
        tiers={"header": TIER_HEADER.decode(), "trustHeader": True},
    )
    path = work / "policy.json"
    path.write_text(msgspec.json.encode(doc).decode())
    with router_process(path, log_path=work / "router.log") as proc:
        yield proc
    log = (work / "router.log").read_text()
    assert "Traceback" not in log, log[-3000:]


@dataclass
class Outcome:
    answered: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    """The ``error.code`` of the error answers."""
    counted: collections.Counter[str] = field(default_factory=collections.Counter)
    """Expected hybridroute_requests_total increments by code (from what was answered)."""
    failures: list[str] = field(default_factory=list)

    def fail(self, case: Case, why: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(f"{case.kind} {case.method!r} {case.path!r}: {why}")


class Pipeline(asyncio.Protocol):
    """One keep-alive connection: write a batch of requests, read as many responses."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.results: list[tuple[int, bool, bytes]] = []
        self.want = 0
        self.waiter: asyncio.Future[None] | None = None
        self.lost = False
        self._status = 0
        self._explained = False
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.connection_lost(None)

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-hybridroute-explain":
            self._explained = True

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.results.append((self._status, self._explained, b"".join(self._body)))
        self._body, self._explained = [], False
        if len(self.results) >= self.want:
            self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._wake()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def exchange(self, batch: list[Case]) -> list[tuple[int, bool, bytes]]:
        assert self.transport is not None
        self.results, self.want = [], len(batch)
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(b"".join(c.wire() for c in batch))
        with contextlib.suppress(TimeoutError):  # reported as unanswered cases
            await asyncio.wait_for(self.waiter, 30)
        return self.results


def check(case: Case, status: int, explained: bool, body: bytes, out: Outcome) -> None:
    out.answered += 1
    out.statuses[status] += 1
    if status not in ALLOWED:
        out.fail(case, f"status {status}: {body[:200]!r}")
        return
    if status >= 400:
        try:
            error = _decode(body)["error"]
            assert isinstance(error["message"], str)
            out.codes[str(error["code"])] += 1
        except Exception:
            out.fail(case, f"status {status} without an OpenAI error body: {body[:200]!r}")
    elif b'"internal_error"' in body:
        out.fail(case, f"internal error event in a {status} answer: {body[-300:]!r}")
    route = case.path.split(b"?")[0]
    explain_answer = status == 200 and (explained or route == EXPLAIN)  # not counted
    if case.method == b"POST" and route in COUNTED and not explain_answer:
        out.counted[str(status)] += 1


async def drive(port: int, todo: collections.deque[Case], out: Outcome) -> None:
    loop = asyncio.get_running_loop()
    conn: Pipeline | None = None
    try:
        while todo:
            if conn is None or conn.lost:
                _, conn = await loop.create_connection(Pipeline, "127.0.0.1", port)
            batch = [todo.popleft() for _ in range(min(BATCH, len(todo)))]
            results = await conn.exchange(batch)
            for case, (status, explained, body) in zip(batch, results, strict=False):
                check(case, status, explained, body, out)
            if len(results) < len(batch):
                out.fail(batch[len(results)], "no answer (connection closed or 30 s passed)")
                conn.close()
                conn = None
    finally:
        if conn is not None:
            conn.close()
        await asyncio.sleep(0)  # let the transports' close callbacks run


def run_cases(port: int, all_cases: list[Case]) -> Outcome:
    out = Outcome()
    todo = collections.deque(all_cases)

    async def main() -> None:
        await asyncio.gather(*(drive(port, todo, out) for _ in range(CONNECTIONS)))

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return out


def metric_by_code(url: str, reason: str | None = None) -> collections.Counter[str]:
    text = httpx.get(f"{url}/metrics").text
    counts: collections.Counter[str] = collections.Counter()
    for labels, value in re.findall(r"^hybridroute_requests_total\{([^}]*)\} (\S+)$", text, re.M):
        if reason is not None and f'reason="{reason}"' not in labels:
            continue
        code = re.search(r'code="(\d+)"', labels)
        assert code is not None
        counts[code.group(1)] += int(float(value))
    return counts


def test_a_hundred_thousand_generated_requests_get_no_server_error(
    router: RouterProcess, upstream: str
) -> None:
    t0 = time.monotonic()
    seeds = draw_seeds(max(TOTAL // PER_SEED, 1))
    all_cases = list(cases(seeds, PER_SEED))[:TOTAL]
    generated = time.monotonic() - t0
    before = metric_by_code(router.url)

    out = run_cases(router.port, all_cases)
    sent = time.monotonic() - t0 - generated
    print(
        f"\n{len(all_cases)} cases ({len(seeds)} seeds) generated in {generated:.1f}s, "
        f"answered in {sent:.1f}s ({len(all_cases) / sent:.0f}/s); statuses {dict(out.statuses)}; "
        f"error codes {dict(out.codes)}"
    )

    assert not out.failures, "\n".join(out.failures)
    assert out.answered == len(all_cases)
    assert router.proc.poll() is None, "the router process died"
    # every case touched every POST endpoint, with both answers and refusals
    kinds = collections.Counter(c.path.split(b"?")[0] for c in all_cases)
    assert all(kinds[p] > TOTAL // 10 for p in (CHAT, COMPLETIONS, EXPLAIN, FEEDBACK))
    assert out.statuses[200] > 0
    assert out.statuses[400] > TOTAL // 4
    assert out.statuses[413] > 0
    assert all(
        out.codes[c] > TOTAL // 1000 for c in ("invalid_utf8", "json_too_deep", "invalid_json")
    )
    # counted: each answered completion request once, under its status; no 500 at all
    after = metric_by_code(router.url)
    delta = {code: after[code] - before[code] for code in after if after[code] != before[code]}
    assert delta.get("500", 0) == 0
    assert delta == dict(out.counted)
    # and the router still serves an ordinary request
    ok = httpx.post(
        f"{router.url}/v1/chat/completions",
        json={"model": "hybrid", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert ok.status_code == 200
    assert ok.json()["choices"][0]["message"]["content"] == "ok"
