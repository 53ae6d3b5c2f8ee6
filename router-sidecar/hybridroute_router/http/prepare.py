"""From an accepted request to a :class:`Request`: the headers the router reads, the
scores, the signals, the (traced) decision, and the shadow sample."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from hybridroute_router.asgi_types import Receive, Scope
from hybridroute_router.decision.complexity import structural_score
from hybridroute_router.decision.decide import Decision, Signals, decide
from hybridroute_router.decision.features import Features
from hybridroute_router.decision.tiers import api_key_from_authorization, resolve_tier, tier_rule
from hybridroute_router.decision.versions import sticky_bucket
from hybridroute_router.feedback import prompt_hmac
from hybridroute_router.http.parse import ParsedRequest
from hybridroute_router.http.request import Request
from hybridroute_router.runtime import Runtime
from hybridroute_router.shadow import sampled
from hybridroute_router.state import RouterState

log = logging.getLogger("hybridroute.router.http")


@dataclass(slots=True)
class RequestHeaders:
    content_length: bytes | None = None
    authorization: bytes | None = None
    request_id: bytes | None = None
    tier: bytes | None = None
    explain: bytes | None = None
    traceparent: bytes | None = None
    tracestate: bytes | None = None

    @property
    def wants_explain(self) -> bool:
        return self.explain is not None and self.explain.lower() in (b"1", b"true", b"yes")


def read_headers(scope: Scope, tier_header: bytes | None) -> RequestHeaders:
    """One pass over the ASGI headers (names arrive lower-cased)."""
    h = RequestHeaders()
    for k, v in scope["headers"]:
        if k == b"content-length":
            h.content_length = v
        elif k == b"authorization":
            h.authorization = v
        elif k == b"x-request-id" or k == b"x-hybridroute-request-id":
            h.request_id = v
        elif k == tier_header:
            h.tier = v
        elif k == b"x-hybridroute-explain":
            h.explain = v
        elif k == b"traceparent":
            h.traceparent = v
        elif k == b"tracestate":
            h.tracestate = v
    return h


async def compute_scores(state: RouterState, features: Features) -> dict[str, float]:
    """The heuristic score, plus the policy's scorer's when it is another one. A slow
    scorer (an embedding model) runs in a worker thread, off the event loop."""
    scores = {"heuristic": structural_score(features)}
    loaded = state.scorer
    scorer = loaded.scorer
    if scorer.name == "heuristic":
        return scores
    # a scorer that looks at the whole request (auto: conversation depth) may report
    # several scores (auto: also ``learned`` on its learned branch)
    by_request = getattr(scorer, "scores_request", None)
    call = partial(by_request, features) if by_request else partial(scorer.score, features.prompt)
    try:
        value = await asyncio.to_thread(call) if loaded.offload else call()
        values = value if isinstance(value, dict) else {scorer.name: value}
        for name, v in values.items():
            scores[name] = min(max(float(v), 0.0), 1.0)
    except Exception:
        log.exception("scorer %s failed; using the heuristic score", scorer.name)
    return scores


def signals_for(
    state: RouterState,
    parsed: ParsedRequest,
    scores: dict[str, float],
    request_id: str,
    h: RequestHeaders,
    sticky_key: bytes = b"",
) -> Signals:
    policy = state.policy
    tier = resolve_tier(
        policy.tiers,
        api_key=api_key_from_authorization(h.authorization.decode("latin-1"))
        if h.authorization
        else None,
        header_value=h.tier.decode("latin-1") if h.tier else None,
    )
    now = time.monotonic()
    return Signals(
        score=scores.get(state.scorer.scorer.name, scores["heuristic"]),
        tier=tier,
        tier_rule=tier_rule(policy.tiers, tier),
        bucket=sticky_bucket(request_id, sticky_key),
        stream=parsed.stream,
        unavailable_versions=[n for n, c in state.small.items() if c.breaker.is_open(now)],
        scores=scores,
        large_in_flight=state.large.pool.in_use,
    )


def _upstream_lines(request_id: str, h: RequestHeaders, tracing: bool) -> tuple[bytes, bytes]:
    """(all extra upstream header lines, the same without trace context). Without
    tracing, an incoming trace context is forwarded unchanged."""
    base = b"X-Request-Id: " + request_id.encode() + b"\r\n"
    if tracing or not h.traceparent:
        return base, base
    lines = base + b"traceparent: " + h.traceparent + b"\r\n"
    if h.tracestate:
        lines += b"tracestate: " + h.tracestate + b"\r\n"
    return lines, base


def _traced_decision(
    rt: Runtime, state: RouterState, signals: Signals, request_id: str, h: RequestHeaders
) -> tuple[Decision, Span, Context]:
    """(decision, root span, its context) with spans for the request and the decision."""
    tracing = rt.tracing
    parent = tracing.extract(
        h.traceparent.decode("latin-1") if h.traceparent else None,
        h.tracestate.decode("latin-1") if h.tracestate else None,
    )
    root = tracing.start(
        "hybridroute.request",
        parent=parent,
        kind=SpanKind.SERVER,
        attributes={"hybridroute.request_id": request_id, "hybridroute.route": state.policy.route},
    )
    context = tracing.context_of(root)
    span = tracing.start("hybridroute.decision", parent=context)
    decision = decide(state.policy, signals)
    span.set_attributes(
        {
            "hybridroute.target": decision.target,
            "hybridroute.reason": decision.reason.value,
            "hybridroute.score": decision.score,
            "hybridroute.threshold": decision.threshold,
            "hybridroute.cascade": decision.cascade,
        }
    )
    span.end()
    return decision, root, context


def build_request(
    rt: Runtime,
    state: RouterState,
    parsed: ParsedRequest,
    features: Features,
    scores: dict[str, float],
    request_id: str,
    h: RequestHeaders,
    receive: Receive | None = None,
) -> Request:
    signals = signals_for(state, parsed, scores, request_id, h, rt.sticky_key)
    root = context = None
    if rt.tracing.enabled:
        decision, root, context = _traced_decision(rt, state, signals, request_id, h)
    else:
        decision = decide(state.policy, signals)
    lines, lines_without_trace = _upstream_lines(request_id, h, rt.tracing.enabled)
    return Request(
        rt=rt,
        state=state,
        request_id=request_id,
        endpoint=parsed.endpoint,
        body=parsed.body,
        stream=parsed.stream,
        features=features,
        decision=decision,
        forward_headers=lines,
        forward_headers_without_trace=lines_without_trace,
        prompt_hmac=prompt_hmac(rt.options.hash_key, features.prompt),
        shadow_sampled=sampled(decision.version, state.policy),
        receive=receive,
        trace_context=context,
        root_span=root,
    )
