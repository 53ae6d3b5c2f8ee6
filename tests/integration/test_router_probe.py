"""A half-open circuit lets one probe through; a probe that ends without an outcome
(cancelled, or failed inside the router) must not keep the circuit shut for good."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from hybridroute_policy import parse_policy
from hybridroute_router.decision.features import extract
from hybridroute_router.http.forward import Candidate, call_with_fallback
from hybridroute_router.http.parse import CHAT, parse_body
from hybridroute_router.http.prepare import RequestHeaders, build_request, compute_scores
from hybridroute_router.http.request import Request, Timings
from hybridroute_router.runtime import Runtime
from hybridroute_router.state import build_state
from router_harness import policy_doc

pytestmark = pytest.mark.integration


async def _request(port: int) -> tuple[Runtime, Request, Candidate]:
    doc = policy_doc(f"http://127.0.0.1:{port}", {"v1": f"http://127.0.0.1:{port}"})
    doc["circuitBreaker"] = {"failureThreshold": 1, "openSeconds": 30}
    state = build_state(parse_policy(msgspec.json.encode(doc).decode(), source="t"), source="t")
    rt = Runtime(state)
    raw = msgspec.json.encode({"model": "hybrid", "messages": [{"role": "user", "content": "hi"}]})
    parsed = parse_body(raw, CHAT, "hybrid")
    features = extract(parsed.body)
    scores = await compute_scores(state, features)
    req = build_request(rt, state, parsed, features, scores, "rid-1", RequestHeaders())
    cand = Candidate("small", "v1", state.small["v1"])
    # the circuit opened long ago: now half-open, one probe may go
    cand.client.breaker.failure(time.monotonic() - 60)
    return rt, req, cand


def _encode(cand: Candidate) -> bytes:
    return b"{}"


async def test_a_cancelled_probe_lets_the_next_request_probe_again() -> None:
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)  # never answers: the probe hangs until cancelled
        accepted.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rt, req, cand = await _request(port)
    breaker = cand.client.breaker
    try:
        probe = asyncio.create_task(call_with_fallback(req, Timings(0.0), [cand], _encode))
        await asyncio.wait_for(accepted.wait(), 10)
        assert not breaker.allow(time.monotonic())  # the probe is out
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert breaker.allow(time.monotonic())
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()
        await rt.stop()


async def test_a_probe_failing_inside_the_router_lets_the_next_request_probe_again() -> None:
    rt, req, cand = await _request(1)

    def broken(c: Candidate) -> bytes:
        raise UnicodeEncodeError("ascii", "é", 0, 1, "not ascii")

    try:
        with pytest.raises(UnicodeEncodeError):
            await call_with_fallback(req, Timings(0.0), [cand], broken)
        assert cand.client.breaker.allow(time.monotonic())
    finally:
        await rt.stop()
