"""The raw ASGI application: path dispatch, load shedding, body limits, and the
completion entry point. The completion flow is in :mod:`completions`, the small
endpoints in :mod:`endpoints`."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hybridroute_router.asgi_types import Receive, Scope, Send
from hybridroute_router.decision.features import extract
from hybridroute_router.decision.reasons import Reason
from hybridroute_router.http.accounting import account
from hybridroute_router.http.completions import serve
from hybridroute_router.http.deliver import end_stream, sse_error
from hybridroute_router.http.endpoints import (
    readiness,
    serve_explain,
    serve_feedback,
    serve_model,
)
from hybridroute_router.http.errors import HttpError
from hybridroute_router.http.forward import LARGE_VERSION
from hybridroute_router.http.parse import CHAT, COMPLETIONS, parse_body
from hybridroute_router.http.prepare import build_request, compute_scores, read_headers
from hybridroute_router.http.request import Request, Timings
from hybridroute_router.http.wire import (
    REQUEST_ID,
    ClientGone,
    TrackedSend,
    error,
    read_body,
    respond,
)
from hybridroute_router.runtime import Runtime

log = logging.getLogger("hybridroute.router.http")
_encode = msgspec.json.Encoder().encode
_COMPLETION_PATHS = {"/v1/chat/completions": CHAT, "/v1/completions": COMPLETIONS}
_EXPLAIN_PATH = "/v1/route/explain"
_GET_PATHS = ("/v1/models", "/healthz", "/readyz", "/metrics")
_ADMIN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

Hook = Callable[[], Awaitable[None]]


def _not_allowed(method: str, path: str) -> HttpError:
    return HttpError(405, f"{method} is not allowed on {path}")


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
        self.admin_port = rt.options.admin_port
        """The local port that serves /metrics, /healthz and /readyz (None: every port)."""
        self._prefix = os.urandom(4).hex()
        self._counter = 0
        self._entropy = b""
        """Random bytes drawn 4 KiB at a time for the ids' unguessable suffixes (one
        ``getrandom`` call per 1,024 requests instead of one per request)."""
        self._drawn = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            tracked = TrackedSend(send)
            try:
                await self._http(scope, receive, tracked)
            except ClientGone:
                return
            except Exception:  # a bug: still an OpenAI-style answer, counted and logged
                await self._internal_error(scope, tracked)
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

    async def _http(self, scope: Scope, receive: Receive, send: TrackedSend) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        if self.admin_port is not None:
            server = scope.get("server")
            on_admin = server is not None and server[1] == self.admin_port
            if on_admin or path in _ADMIN_PATHS:
                return await self._admin(send, method, path, on_admin)
        endpoint = _COMPLETION_PATHS.get(path)
        if endpoint is not None or path == _EXPLAIN_PATH:
            if method != "POST":
                return await error(send, _not_allowed(method, path))
            return await self._completion(scope, receive, send, endpoint, path != _EXPLAIN_PATH)
        if method == "GET":
            if path == "/v1/models":
                return await respond(send, 200, self.rt.state.models_body)
            if path in _ADMIN_PATHS:
                return await self._admin(send, method, path, True)
            if path.startswith("/v1/models/"):
                return await serve_model(self.rt, send, path[len("/v1/models/") :])
        if path == "/v1/feedback":
            if method != "POST":
                return await error(send, _not_allowed(method, path))
            return await serve_feedback(self.rt, scope, receive, send)
        if path in _GET_PATHS:
            return await error(send, _not_allowed(method, path))
        return await error(
            send, HttpError(404, f"no such endpoint: {path[:200]}", code="not_found")
        )

    async def _admin(self, send: Send, method: str, path: str, on_admin: bool) -> None:
        """/metrics, /healthz and /readyz; with an admin port, only there."""
        if not on_admin or path not in _ADMIN_PATHS:
            return await error(
                send, HttpError(404, f"no such endpoint: {path[:200]}", code="not_found")
            )
        if method != "GET":
            return await error(send, _not_allowed(method, path))
        if path == "/healthz":
            return await respond(send, 200, b'{"status":"ok"}')
        if path == "/readyz":
            return await respond(send, 200, _encode(readiness(self.rt.state)))
        body = generate_latest(self.rt.metrics.registry)
        ctype = [(b"content-type", CONTENT_TYPE_LATEST.encode())]
        return await respond(send, 200, body, ctype)

    async def _internal_error(self, scope: Scope, tracked: TrackedSend) -> None:
        """Answer an unexpected exception (being handled) with a 500 ``internal_error``
        if nothing was sent yet, or end a started stream with an error event; count it
        in hybridroute_requests_total{code="500"} and log it with the request id."""
        request_id = tracked.request_id or self._request_id(None)
        log.exception(
            "internal error on %s %s, request id %s",
            scope.get("method"),
            str(scope.get("path"))[:200],
            request_id,
            extra={"request_id": request_id},
        )
        m = self.rt.metrics
        route = self.rt.state.policy.route
        m.child(m.requests, route, "none", "none", Reason.INTERNAL_ERROR.value, "500").inc()
        if tracked.ended:
            return
        exc = HttpError(
            500,
            f"internal error in the router (request id {request_id})",
            code="internal_error",
        )
        try:
            if not tracked.started:
                return await error(tracked, exc, request_id)
            if tracked.streaming:  # the status is out: say it in the stream, then end it
                await sse_error(tracked, exc.body())
                await end_stream(tracked)
            # else: a body shorter than its Content-Length; the server closes the connection
        except Exception:  # the client is gone, or the server refuses: nothing more to do
            log.debug("could not answer request %s after an internal error", request_id)

    def _request_id(self, given: bytes | None) -> str:
        if given is not None and self.rt.options.trust_request_id:
            text = given.decode("latin-1")
            if REQUEST_ID.fullmatch(text):
                return text
        self._counter += 1
        at = self._drawn
        if at >= len(self._entropy):
            self._entropy, at = os.urandom(4096), 0
        self._drawn = at + 4
        return f"{self._prefix}-{self._counter:x}-{self._entropy[at : at + 4].hex()}"

    def _rejected(self, route: str, status: int) -> None:
        m = self.rt.metrics
        m.child(m.requests, route, "none", "none", Reason.REJECTED.value, str(status)).inc()

    async def _completion(
        self, scope: Scope, receive: Receive, send: TrackedSend, endpoint: str | None, answers: bool
    ) -> None:
        """Shed load, read and check the body, decide; then explain or serve."""
        rt = self.rt
        state = rt.state  # the policy snapshot this request keeps to its end
        policy = state.policy
        timings = Timings(time.perf_counter())
        h = read_headers(scope, state.tier_header)
        request_id = send.request_id = self._request_id(h.request_id)
        if rt.in_flight >= policy.limits.max_in_flight:
            self._rejected(policy.route, 429)
            exc = HttpError(
                429, "the router is at its in-flight limit; retry shortly", code="overloaded"
            )
            return await error(send, exc, request_id, [(b"retry-after", b"1")])
        rt.in_flight += 1  # hybridroute_in_flight_requests reads this at scrape time
        try:
            try:
                raw = await read_body(receive, policy.limits.max_body_bytes, h.content_length)
                parsed = parse_body(raw, endpoint, policy.public_model)
            except HttpError as exc:
                self._rejected(policy.route, exc.status)
                return await error(send, exc, request_id)
            features = extract(parsed.body)
            scores = await compute_scores(state, features)
            req = build_request(rt, state, parsed, features, scores, request_id, h, receive)
            if not answers or h.wants_explain:
                return await serve_explain(send, req)
            await self._serve(req, timings, send)
        finally:
            rt.in_flight -= 1

    async def _serve(self, req: Request, timings: Timings, send: Send) -> None:
        try:
            sent = await serve(req, timings, send)
        except HttpError as exc:
            d = req.decision
            version = d.version.name if d.version and d.target == "small" else LARGE_VERSION
            m = req.rt.metrics
            route = req.state.policy.route
            m.child(m.requests, route, d.target, version, d.reason.value, str(exc.status)).inc()
            if req.root_span is not None:
                req.rt.tracing.fail(req.root_span, exc.message)
                req.root_span.end()
            extra = [(b"retry-after", b"1")] if exc.status == 503 else []
            return await error(send, exc, req.request_id, extra)
        if req.root_span is not None:
            req.root_span.set_attribute("http.response.status_code", sent.status)
            req.root_span.end()
        account(req, timings, sent)
