"""Delivering the chosen answer: the one place that starts the client's response (and
marks the time), passes a stream through or sends a buffered body, writes the routing
headers, and ends a broken stream with an SSE error event."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from hybridroute_router.asgi_types import Receive, Send
from hybridroute_router.decision.reasons import Reason
from hybridroute_router.http.choose import Answer, Judged
from hybridroute_router.http.errors import error_body
from hybridroute_router.http.forward import Call, Candidate
from hybridroute_router.http.request import Request, Timings
from hybridroute_router.http.usage import StreamUsage
from hybridroute_router.upstream.http1 import Response, UpstreamError

CLIENT_CLOSED = 499
"""The ``code`` label of a stream the client left before its end (as nginx logs it)."""
UPSTREAM_STREAM_FAILED = 599
"""The ``code`` label of a stream the upstream broke after it started."""

_DROP = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"date",
        b"server",
        b"proxy-connection",
        b"upgrade",
        b"te",
        b"trailer",
    }
)
_REASON = {reason: reason.value.encode() for reason in Reason}
_JSON = [(b"content-type", b"application/json")]


@dataclass(slots=True)
class Sent:
    """What was delivered, for the accounting after the response is complete."""

    status: int
    role: str
    version: str
    reason: Reason
    degraded: bool
    body: bytes | None = None
    """A buffered body (JSON, or the cascade's replayed SSE body)."""
    parsed: Any = None
    """The buffered JSON body, when it was already decoded."""
    usage: StreamUsage | None = None
    """A passed-through stream's usage events."""
    sse: bytes | None = None
    """A replayed SSE body (its usage is in its events)."""
    chunks: list[bytes] | None = None
    """A stream's chunks, kept only for a request sampled for shadowing."""
    judged: Judged | None = None
    """The cascade's judgement of the small answer (None without a cascade)."""


def routing_headers(req: Request, cand: Candidate, answer: Answer) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-hybridroute-model", cand.client.model.encode("latin-1", "replace")),
        (b"x-hybridroute-version", cand.version.encode("latin-1", "replace")),
        (b"x-hybridroute-reason", _REASON[answer.reason]),
        (b"x-hybridroute-request-id", req.request_id.encode()),
    ]
    if answer.degraded:
        headers.append((b"x-hybridroute-degraded", b"true"))
    return headers


def passthrough_headers(resp: Response) -> list[tuple[bytes, bytes]]:
    return [
        (k, v) for k, v in resp.headers if k not in _DROP and not k.startswith(b"x-hybridroute-")
    ]


async def deliver(req: Request, timings: Timings, send: Send, call: Call, answer: Answer) -> Sent:
    """Deliver a call's response as it is: passed through as it arrives when the client
    asked for a stream and it is a 200, else read whole and sent."""
    timings.response_started = time.perf_counter()
    if req.stream and call.resp.status == 200:
        return await _stream(req, send, call.resp, call.cand, answer)
    return await _buffered(req, send, call.resp, call.cand, answer)


async def deliver_body(
    req: Request,
    timings: Timings,
    send: Send,
    cand: Candidate,
    headers: list[tuple[bytes, bytes]],
    data: bytes,
    answer: Answer,
    parsed: Any = None,
) -> Sent:
    """Deliver an answer already read whole (the cascade's small answer): a 200 with
    these upstream headers; ``data`` is SSE when the client asked for a stream."""
    timings.response_started = time.perf_counter()
    sent = await _send_body(req, send, cand, 200, headers, data, answer)
    if req.stream:
        sent.sse = data
    else:
        sent.parsed = parsed
    return sent


async def sse_error(send: Send, body: bytes) -> None:
    """An SSE error event (the OpenAI SDKs raise it as an APIError) in a started stream."""
    await send(
        {"type": "http.response.body", "body": b"data: " + body + b"\n\n", "more_body": True}
    )


async def end_stream(send: Send) -> None:
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_body(
    req: Request,
    send: Send,
    cand: Candidate,
    status: int,
    upstream_headers: list[tuple[bytes, bytes]],
    body: bytes,
    answer: Answer,
) -> Sent:
    headers = upstream_headers + routing_headers(req, cand, answer)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return Sent(status, cand.role, cand.version, answer.reason, answer.degraded, body=body)


async def _buffered(
    req: Request, send: Send, resp: Response, cand: Candidate, answer: Answer
) -> Sent:
    try:
        body = await resp.read()
    except UpstreamError as exc:
        status = 504 if exc.kind == "timeout" else 502
        body = error_body(
            status, "the upstream model failed while answering", code="upstream_error"
        )
        return await _send_body(req, send, cand, status, _JSON, body, answer)
    return await _send_body(req, send, cand, resp.status, passthrough_headers(resp), body, answer)


class _Disconnect:
    """Watches the client while a stream passes: when it goes away, the upstream
    exchange is closed (the model server stops generating, the stream loop ends)."""

    __slots__ = ("gone",)

    def __init__(self) -> None:
        self.gone = False

    async def watch(self, receive: Receive, resp: Response) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        resp.close()


async def _stream(
    req: Request, send: Send, resp: Response, cand: Candidate, answer: Answer
) -> Sent:
    """Pass the body through chunk by chunk as it arrives (never buffered whole). A
    failure after the first byte ends the stream with an SSE error event."""
    headers = passthrough_headers(resp) + routing_headers(req, cand, answer)
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    usage = StreamUsage()
    sent = Sent(resp.status, cand.role, cand.version, answer.reason, answer.degraded, usage=usage)
    kept = sent.chunks = [] if req.shadow_sampled else None
    client = _Disconnect()
    watcher = (
        asyncio.get_running_loop().create_task(client.watch(req.receive, resp))
        if req.receive is not None
        else None
    )
    try:
        while (chunk := await resp.next_chunk()) is not None:
            usage.feed(chunk)
            if kept is not None:
                kept.append(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UpstreamError as exc:
        resp.close()
        if client.gone:  # nobody to tell: not an upstream failure either
            sent.status = CLIENT_CLOSED
            return sent
        await sse_error(
            send,
            error_body(502, f"upstream stream failed: {exc.kind}", code="upstream_stream_error"),
        )
        sent.status = UPSTREAM_STREAM_FAILED  # the client already has 200
    finally:
        usage.end()
        resp.close()
        if watcher is not None:
            watcher.cancel()  # not awaited: that would tie this frame to its traceback
    await end_stream(send)
    return sent
