"""The raw ASGI application: routing of paths, body limits, load shedding, and the
small endpoints. The completion flow itself is in :mod:`completions`."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hybridroute_router.asgi_types import Receive, Scope, Send
from hybridroute_router.decision.complexity import structural_score
from hybridroute_router.decision.decide import Decision, Signals, decide
from hybridroute_router.decision.features import Features, extract
from hybridroute_router.decision.reasons import Reason
from hybridroute_router.decision.tiers import api_key_from_authorization, resolve_tier, tier_rule
from hybridroute_router.decision.versions import sticky_bucket
from hybridroute_router.feedback import prompt_digest, user_record
from hybridroute_router.http.accounting import account
from hybridroute_router.http.completions import cascade, forward
from hybridroute_router.http.context import RequestContext
from hybridroute_router.http.errors import HttpError
from hybridroute_router.http.forward import LARGE_VERSION
from hybridroute_router.http.parse import CHAT, COMPLETIONS, ParsedRequest, parse_body
from hybridroute_router.runtime import Runtime
from hybridroute_router.state import RouterState

log = logging.getLogger("hybridroute.router.http")
_encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder()
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_JSON = [(b"content-type", b"application/json")]
_COMPLETION_PATHS = {"/v1/chat/completions": CHAT, "/v1/completions": COMPLETIONS}

Hook = Callable[[], Awaitable[None]]


class _ClientGone(Exception):
    pass


class RouterApp:
    """ASGI 3 application. ``on_startup``/``on_shutdown`` hooks run in the lifespan
    (e.g. the policy watchers)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        on_startup: list[Hook] | None = None,
        on_shutdown: list[Hook] | None = None,
    ) -> None:
        self.rt = rt
        self.on_startup = on_startup or []
        self.on_shutdown = on_shutdown or []
        self._prefix = os.urandom(4).hex()
        self._counter = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except _ClientGone:
                return
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.rt.start()
                    for hook in self.on_startup:
                        await hook()
                except Exception as exc:
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for hook in self.on_shutdown:
                    try:
                        await hook()
                    except Exception:
                        log.exception("shutdown hook failed")
                await self.rt.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---------------------------------------------------------------- dispatch
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        endpoint = _COMPLETION_PATHS.get(path)
        if endpoint is not None or path == "/v1/route/explain":
            if method != "POST":
                return await _error(send, HttpError(405, f"{method} is not allowed on {path}"))
            return await self._completion(
                scope, receive, send, endpoint, path != "/v1/route/explain"
            )
        if method == "GET":
            if path == "/v1/models":
                return await _respond(send, 200, self.rt.state.models_body)
            if path == "/healthz":
                return await _respond(send, 200, b'{"status":"ok"}')
            if path == "/readyz":
                return await _respond(send, 200, _encode(_ready(self.rt.state)))
            if path.startswith("/v1/models/"):
                return await self._model(send, path[len("/v1/models/") :])
            if path == "/metrics":
                body = generate_latest(self.rt.metrics.registry)
                return await _respond(
                    send, 200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())]
                )
        if path == "/v1/feedback":
            if method != "POST":
                return await _error(send, HttpError(405, f"{method} is not allowed on {path}"))
            return await self._feedback(scope, receive, send)
        if path in ("/v1/models", "/healthz", "/readyz", "/metrics"):
            return await _error(send, HttpError(405, f"{method} is not allowed on {path}"))
        return await _error(
            send, HttpError(404, f"no such endpoint: {path[:200]}", code="not_found")
        )

    async def _model(self, send: Send, model_id: str) -> None:
        public = self.rt.state.policy.public_model
        if model_id != public:
            return await _error(
                send,
                HttpError(
                    404,
                    f"The model '{model_id[:200]}' does not exist",
                    code="model_not_found",
                    param="model",
                ),
            )
        body = {"id": public, "object": "model", "created": 0, "owned_by": "hybridroute"}
        await _respond(send, 200, _encode(body))

    def _request_id(self, given: bytes | None) -> str:
        if given is not None and self.rt.options.trust_request_id:
            text = given.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
        self._counter += 1
        return f"{self._prefix}-{self._counter:x}-{os.urandom(4).hex()}"

    # ------------------------------------------------------------- completions
    async def _completion(
        self, scope: Scope, receive: Receive, send: Send, endpoint: str | None, serve: bool
    ) -> None:
        rt = self.rt
        state = rt.state
        policy = state.policy
        m = rt.metrics
        t0 = time.perf_counter()
        tier_header = state.tier_header
        content_length = auth = rid = tier_value = explain = traceparent = tracestate = None
        for k, v in scope["headers"]:
            if k == b"content-length":
                content_length = v
            elif k == b"authorization":
                auth = v
            elif k == b"x-request-id" or k == b"x-hybridroute-request-id":
                rid = v
            elif k == tier_header:
                tier_value = v
            elif k == b"x-hybridroute-explain":
                explain = v
            elif k == b"traceparent":
                traceparent = v
            elif k == b"tracestate":
                tracestate = v
        request_id = self._request_id(rid)
        if rt.in_flight >= policy.limits.max_in_flight:
            m.child(m.requests, policy.route, "none", "none", Reason.REJECTED.value, "429").inc()
            return await _error(
                send,
                HttpError(
                    429, "the router is at its in-flight limit; retry shortly", code="overloaded"
                ),
                request_id,
                [(b"retry-after", b"1")],
            )
        rt.in_flight += 1
        gauge = m.child(m.in_flight, policy.route)
        gauge.inc()
        try:
            try:
                raw = await _read_body(receive, policy.limits.max_body_bytes, content_length)
                parsed = parse_body(raw, endpoint, policy.public_model)
            except HttpError as exc:
                m.child(
                    m.requests, policy.route, "none", "none", Reason.REJECTED.value, str(exc.status)
                ).inc()
                return await _error(send, exc, request_id)
            features = extract(parsed.body)
            scores = await _scores(state, features)
            ctx = self._context(
                state,
                parsed,
                features,
                scores,
                request_id,
                t0,
                auth,
                tier_value,
                traceparent,
                tracestate,
            )
            if not serve or (explain is not None and explain.lower() in (b"1", b"true", b"yes")):
                return await _explain(send, ctx)
            ctx.receive = receive
            await self._serve(ctx, send)
        finally:
            rt.in_flight -= 1
            gauge.dec()

    def _context(
        self,
        state: RouterState,
        parsed: ParsedRequest,
        features: Features,
        scores: dict[str, float],
        request_id: str,
        t0: float,
        auth: bytes | None,
        tier_value: bytes | None,
        traceparent: bytes | None,
        tracestate: bytes | None,
    ) -> RequestContext:
        rt = self.rt
        policy = state.policy
        score = scores.get(state.scorer.scorer.name, scores["heuristic"])
        tier = resolve_tier(
            policy.tiers,
            api_key=api_key_from_authorization(auth.decode("latin-1")) if auth else None,
            header_value=tier_value.decode("latin-1") if tier_value else None,
        )
        now = time.monotonic()
        unavailable = [n for n, c in state.small.items() if c.breaker.is_open(now)]
        signals = Signals(
            score=score,
            tier=tier,
            tier_rule=tier_rule(policy.tiers, tier),
            bucket=sticky_bucket(request_id),
            stream=parsed.stream,
            unavailable_versions=unavailable,
            scores=scores,
        )
        tp = traceparent.decode("latin-1") if traceparent else None
        ts = tracestate.decode("latin-1") if tracestate else None
        base = b"X-Request-Id: " + request_id.encode() + b"\r\n"
        trace_lines = b""
        if not rt.tracing.enabled and tp:
            trace_lines = b"traceparent: " + traceparent + b"\r\n"  # type: ignore[operator]
            if ts:
                trace_lines += b"tracestate: " + tracestate + b"\r\n"  # type: ignore[operator]
        trace_context = root = None
        if rt.tracing.enabled:
            root = rt.tracing.start(
                "hybridroute.request",
                parent=rt.tracing.extract(tp, ts),
                kind=SpanKind.SERVER,
                attributes={
                    "hybridroute.request_id": request_id,
                    "hybridroute.route": policy.route,
                },
            )
            trace_context = rt.tracing.context_of(root)
            span = rt.tracing.start("hybridroute.decision", parent=trace_context)
            decision = decide(policy, signals)
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
        else:
            decision = decide(policy, signals)
        ctx = RequestContext(
            rt=rt,
            state=state,
            request_id=request_id,
            endpoint=parsed.endpoint,
            body=parsed.body,
            stream=parsed.stream,
            t0=t0,
            features=features,
            decision=decision,
            forward_headers=base + trace_lines,
            forward_headers_without_trace=base,
            trace_context=trace_context,
            root_span=root,
        )
        ctx.extra["prompt_sha256"] = prompt_digest(features.prompt)
        return ctx

    async def _serve(self, ctx: RequestContext, send: Send) -> None:
        d = ctx.decision
        try:
            if d.cascade and d.target == "small":
                sent = await cascade(ctx, send)
            else:
                sent = await forward(ctx, send)
        except HttpError as exc:
            role = d.target
            version = d.version.name if d.version and role == "small" else LARGE_VERSION
            m = ctx.rt.metrics
            m.child(
                m.requests, ctx.state.policy.route, role, version, d.reason.value, str(exc.status)
            ).inc()
            if ctx.root_span is not None:
                ctx.rt.tracing.fail(ctx.root_span, exc.message)
                ctx.root_span.end()
            extra = [(b"retry-after", b"1")] if exc.status == 503 else []
            return await _error(send, exc, ctx.request_id, extra)
        if ctx.root_span is not None:
            ctx.root_span.set_attribute("http.response.status_code", sent.status)
            ctx.root_span.end()
        account(ctx, sent)

    # ---------------------------------------------------------------- feedback
    async def _feedback(self, scope: Scope, receive: Receive, send: Send) -> None:
        rt = self.rt
        policy = rt.state.policy
        try:
            raw = await _read_body(receive, 65536, None)
            item = _feedback_item(raw)
        except HttpError as exc:
            return await _error(send, exc)
        request_id, score, comment = item
        record = user_record(
            route=policy.route,
            request_id=request_id,
            score=score,
            comment=comment,
            remembered=rt.recent.get(request_id),
            log_prompts=policy.logging.log_prompts,
        )
        rt.feedback_log.write(record)
        rt.metrics.child(rt.metrics.feedback, policy.route).inc()
        logged = rt.feedback_log.path is not None or policy.logging.feedback_log is not None
        await _respond(send, 202, _encode({"status": "accepted", "logged": logged}))


async def _scores(state: RouterState, features: Features) -> dict[str, float]:
    """The heuristic score, plus the policy's scorer's when it is another one. A slow
    scorer (an embedding model) runs in a worker thread, off the event loop."""
    scores = {"heuristic": structural_score(features)}
    loaded = state.scorer
    scorer = loaded.scorer
    if scorer.name == "heuristic":
        return scores
    try:
        if loaded.offload:
            value = await asyncio.to_thread(scorer.score, features.prompt)
        else:
            value = scorer.score(features.prompt)
        scores[scorer.name] = min(max(float(value), 0.0), 1.0)
    except Exception:
        log.exception("scorer %s failed; using the heuristic score", scorer.name)
    return scores


def _feedback_item(raw: bytes) -> tuple[str, float, str | None]:
    try:
        body = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise HttpError(
            400, f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise HttpError(400, "request body must be a JSON object", code="invalid_body")
    rid = body.get("request_id")
    if not isinstance(rid, str) or not _REQUEST_ID.fullmatch(rid):
        raise HttpError(400, "'request_id' must be a request id string", param="request_id")
    score = body.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise HttpError(400, "'score' must be a number between 0 and 1", param="score")
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise HttpError(400, "'comment' must be a string", param="comment")
    return rid, float(score), comment


def _ready(state: RouterState) -> dict[str, Any]:
    return {
        "status": "ready",
        "route": state.policy.route,
        "policy": state.digest,
        "source": state.source,
        "scorer": state.scorer.scorer.name,
        "scorer_requested": state.scorer.requested,
        "scorer_fallback_reason": state.scorer.fallback_reason,
    }


def explanation(ctx: RequestContext) -> dict[str, Any]:
    d: Decision = ctx.decision
    f: Features = ctx.features
    state = ctx.state
    if d.target == "large":
        model, version = state.large.model, LARGE_VERSION
    else:
        assert d.version is not None
        model, version = d.version.upstream.model, d.version.name
    return {
        "request_id": ctx.request_id,
        "decision": {
            "target": d.target,
            "model": model,
            "version": version,
            "reason": d.reason.value,
            "score": d.score,
            "threshold": d.threshold,
            "tier": d.tier,
            "cascade": d.cascade,
            "scores": d.scores,
            "scorer": state.scorer.scorer.name,
            "scorer_fallback_reason": state.scorer.fallback_reason,
        },
        "features": {
            "tokens": f.tokens,
            "has_code": f.has_code,
            "has_math": f.has_math,
            "multi_step": f.multi_step,
            "questions": f.questions,
            "depth": f.depth,
        },
    }


async def _explain(send: Send, ctx: RequestContext) -> None:
    info = explanation(ctx)
    d = info["decision"]
    headers = [
        (b"x-hybridroute-model", d["model"].encode("latin-1", "replace")),
        (b"x-hybridroute-version", d["version"].encode("latin-1", "replace")),
        (b"x-hybridroute-reason", d["reason"].encode()),
        (b"x-hybridroute-request-id", ctx.request_id.encode()),
        (b"x-hybridroute-explain", b"true"),
    ]
    if ctx.root_span is not None:
        ctx.root_span.end()
    await _respond(send, 200, _encode(info), _JSON + headers)


async def _read_body(receive: Receive, limit: int, content_length: bytes | None) -> bytes:
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise HttpError(400, "invalid Content-Length") from None
        if declared > limit:
            raise HttpError(413, f"request body over the {limit}-byte limit", code="body_too_large")
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise HttpError(413, f"request body over the {limit}-byte limit", code="body_too_large")
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"request body over the {limit}-byte limit", code="body_too_large")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    h = list(headers) if headers is not None else list(_JSON)
    h.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": h})
    await send({"type": "http.response.body", "body": body})


async def _error(
    send: Send,
    exc: HttpError,
    request_id: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = list(_JSON)
    if request_id is not None:
        headers.append((b"x-hybridroute-request-id", request_id.encode()))
    if extra:
        headers.extend(extra)
    await _respond(send, exc.status, exc.body(), headers)
