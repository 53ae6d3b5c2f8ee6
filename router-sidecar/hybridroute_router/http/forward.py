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
    from hybridroute_router.upstream.breaker import CircuitBreaker
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


SKIPPED = "skipped"
"""A candidate's outcome when its circuit was open: it was not called."""


async def call_with_fallback(
    req: Request,
    timings: Timings,
    cands: list[Candidate],
    encode: Callable[[Candidate], bytes],
) -> Call:
    """Send to the first candidate that answers with a non-5xx, non-429 status.
    A 4xx other than 429 is the client's problem and is returned as is."""
    req.rt.budget.record_request(time.monotonic())
    last = "closed"
    skipped = 0
    for index, cand in enumerate(cands):
        outcome, resp = await _behind_breaker(req, timings, cand, encode)
        if resp is not None:
            if index > 0:
                m = req.rt.metrics
                m.child(m.fallbacks, req.state.policy.route, cands[0].role, cand.role).inc()
            return Call(resp, cand, index > 0)
        if outcome == SKIPPED:
            skipped += 1
        else:
            last = outcome
    raise _failure(last, every_circuit_open=skipped == len(cands))


async def _behind_breaker(
    req: Request, timings: Timings, cand: Candidate, encode: Callable[[Candidate], bytes]
) -> tuple[str, Response | None]:
    """One candidate through its circuit breaker: SKIPPED when the circuit is open, else
    its attempts' last outcome (with the response when it is "ok"); after a failure the
    circuit gauge tells whether the circuit is open now."""
    breaker = cand.client.breaker
    now = time.monotonic()
    probe = breaker.state(now) == "half-open"
    if not breaker.allow(now):
        return SKIPPED, None
    try:
        outcome, resp = await _attempts(req, timings, cand, encode)
    finally:
        if probe:  # cancelled or failed inside the router: let another probe go
            breaker.release()
    if resp is None:
        m = req.rt.metrics
        m.child(m.circuit_open, req.state.policy.route, cand.role, cand.version).set(
            1 if breaker.is_open(time.monotonic()) else 0
        )
    return outcome, resp


async def _attempts(
    req: Request, timings: Timings, cand: Candidate, encode: Callable[[Candidate], bytes]
) -> tuple[str, Response | None]:
    """Call one candidate up to ``retries.attempts`` times, a retry only within the retry
    budget; stop at a success or when :func:`_settle` says so."""
    rt = req.rt
    m = rt.metrics
    route = req.state.policy.route
    breaker = cand.client.breaker
    outcome = "closed"
    for attempt in range(req.state.policy.retries.attempts):
        if attempt:
            if not rt.budget.try_spend(time.monotonic()):
                break
            m.child(m.retries, route, cand.role, cand.version).inc()
        outcome, resp = await _attempt(req, timings, cand, encode(cand))
        now = time.monotonic()
        if resp is not None and outcome == "ok":
            if breaker.success():  # the probe worked: the circuit is closed again
                m.child(m.circuit_open, route, cand.role, cand.version).set(0)
            return outcome, resp
        if _settle(breaker, outcome, now):
            break
    return outcome, None


def _settle(breaker: CircuitBreaker, outcome: str, now: float) -> bool:
    """Record a failed attempt on the breaker; True: no further attempt on this upstream
    (a 429: alive but busy, try the other model; a timeout; an open circuit)."""
    if outcome == "rate_limited":
        breaker.success()
        return True
    breaker.failure(now)
    return outcome == "timeout" or breaker.is_open(now)


def _failure(last: str, *, every_circuit_open: bool) -> HttpError:
    """The error the client sees when no candidate answered."""
    if every_circuit_open:
        return HttpError(
            503,
            "every upstream for this request is unavailable (circuit open)",
            code="upstream_unavailable",
        )
    if last == "timeout":
        return HttpError(504, "the upstream model did not answer in time", code="upstream_timeout")
    if last == "rate_limited":
        return HttpError(503, "the upstream models are rate limiting", code="upstream_busy")
    return HttpError(502, f"the upstream model failed ({last})", code="upstream_error")


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
