"""Calling upstreams: retries within a budget, circuit breakers, fallback to the other
model, and the status the client sees when every option failed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from opentelemetry.trace import SpanKind

from hybridroute_router.decision.decide import Target
from hybridroute_router.http.errors import HttpError
from hybridroute_router.upstream.http1 import Response, UpstreamError

if TYPE_CHECKING:
    from hybridroute_router.http.request import Request, Timings
    from hybridroute_router.upstream.client import UpstreamClient

_encode = msgspec.json.Encoder().encode

LARGE_VERSION = "large"
"""The version label used for the large model in headers and metrics."""


@dataclass(frozen=True, slots=True)
class Candidate:
    role: Target
    version: str
    client: UpstreamClient


@dataclass(slots=True)
class Call:
    resp: Response
    cand: Candidate
    fallback: bool


def encoder(body: dict[str, Any]) -> Callable[[Candidate], bytes]:
    """The request bytes for each candidate: the body with its upstream model id."""

    def encode(cand: Candidate) -> bytes:
        body["model"] = cand.client.model
        return _encode(body)

    return encode


def candidates(req: Request, primary: Target) -> list[Candidate]:
    """Primary first, then the other model as fallback (when a small version exists)."""
    state = req.state
    version = req.decision.version
    large = Candidate("large", LARGE_VERSION, state.large)
    if version is None:
        return [large]
    small = Candidate("small", version.name, state.small[version.name])
    return [small, large] if primary == "small" else [large, small]


async def call_with_fallback(
    req: Request,
    timings: Timings,
    cands: list[Candidate],
    encode: Callable[[Candidate], bytes],
) -> Call:
    """Send to the first candidate that answers with a non-5xx, non-429 status.
    A 4xx other than 429 is the client's problem and is returned as is."""
    rt = req.rt
    policy = req.state.policy
    route = policy.route
    m = rt.metrics
    attempts = policy.retries.attempts
    last: str = "closed"
    skipped = 0
    rt.budget.record_request(time.monotonic())
    for index, cand in enumerate(cands):
        breaker = cand.client.breaker
        now = time.monotonic()
        probe = breaker.state(now) == "half-open"
        if not breaker.allow(now):
            skipped += 1
            continue
        try:
            for attempt in range(attempts):
                if attempt:
                    if not rt.budget.try_spend(time.monotonic()):
                        break
                    m.child(m.retries, route, cand.role, cand.version).inc()
                outcome, resp = await _attempt(req, timings, cand, encode(cand))
                now = time.monotonic()
                if resp is not None and outcome == "ok":
                    if breaker.success():  # the probe worked: the circuit is closed again
                        m.child(m.circuit_open, route, cand.role, cand.version).set(0)
                    if index > 0:
                        m.child(m.fallbacks, route, cands[0].role, cand.role).inc()
                    return Call(resp, cand, index > 0)
                last = outcome
                if outcome == "rate_limited":
                    breaker.success()  # alive but busy: try the other model, not again here
                    break
                breaker.failure(now)
                if outcome == "timeout" or breaker.is_open(now):
                    break
        finally:
            if probe:  # cancelled or failed inside the router: let another probe go
                breaker.release()
        m.child(m.circuit_open, route, cand.role, cand.version).set(
            1 if breaker.is_open(time.monotonic()) else 0
        )
    if skipped == len(cands):
        raise HttpError(
            503,
            "every upstream for this request is unavailable (circuit open)",
            code="upstream_unavailable",
        )
    if last == "timeout":
        raise HttpError(504, "the upstream model did not answer in time", code="upstream_timeout")
    if last == "rate_limited":
        raise HttpError(503, "the upstream models are rate limiting", code="upstream_busy")
    raise HttpError(502, f"the upstream model failed ({last})", code="upstream_error")


async def _attempt(
    req: Request, timings: Timings, cand: Candidate, body: bytes
) -> tuple[str, Response | None]:
    rt = req.rt
    m = rt.metrics
    route = req.state.policy.route
    span: Any = None
    headers = req.forward_headers
    if rt.tracing.enabled:
        span = rt.tracing.start(
            "hybridroute.upstream",
            parent=req.trace_context,
            kind=SpanKind.CLIENT,
            attributes={
                "hybridroute.model": cand.role,
                "hybridroute.version": cand.version,
                "gen_ai.request.model": cand.client.model,
            },
        )
        headers = req.forward_headers_without_trace + rt.tracing.inject(span)
    t0 = time.perf_counter()
    outcome = "ok"
    resp: Response | None = None
    try:
        resp = await cand.client.post(req.endpoint, body, headers)
        status = resp.status
        if status >= 500:
            outcome = f"http_{status}"
        elif status == 429:
            outcome = "rate_limited"
        if outcome != "ok":
            with contextlib.suppress(UpstreamError):
                await resp.read()  # small error body: keeps the connection reusable
            resp = None
    except UpstreamError as exc:
        outcome = "timeout" if exc.kind == "timeout" else exc.kind
    elapsed = time.perf_counter() - t0
    timings.upstream_seconds += elapsed
    m.child(
        m.upstream_duration,
        route,
        cand.role,
        cand.version,
        outcome if outcome in _OUTCOMES else "http_error",
    ).observe(elapsed)
    if span is not None:
        span.set_attribute("hybridroute.outcome", outcome)
        if outcome != "ok":
            rt.tracing.fail(span, outcome)
        span.end()
    return outcome, resp


_OUTCOMES = frozenset({"ok", "timeout", "connect", "closed", "protocol", "pool", "rate_limited"})
