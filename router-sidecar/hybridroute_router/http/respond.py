"""Sending upstream responses to the client: headers, streaming pass-through, and the
usage/answer information the accounting needs afterwards."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import msgspec

from hybridroute_router.asgi_types import Receive, Send
from hybridroute_router.http.context import RequestContext
from hybridroute_router.http.errors import error_body
from hybridroute_router.http.forward import Candidate
from hybridroute_router.http.usage import usage_tokens
from hybridroute_router.upstream.http1 import Response, UpstreamError

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

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


@dataclass(slots=True)
class Sent:
    """What was sent, for accounting after the response is complete."""

    status: int
    role: str
    version: str
    reason: str
    degraded: bool
    body: bytes | None = None
    """Non-streaming body (for usage and the shadow comparison)."""
    usage_chunk: bytes | None = None
    """Streaming: the last complete SSE events that carried a usage object."""
    chunks: list[bytes] | None = None
    """Streaming: every chunk, kept only for a request sampled for shadowing."""
    parsed: Any = None


def routing_headers(
    ctx: RequestContext, cand: Candidate, reason: str, degraded: bool
) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-hybridroute-model", cand.client.model.encode("latin-1", "replace")),
        (b"x-hybridroute-version", cand.version.encode("latin-1", "replace")),
        (b"x-hybridroute-reason", reason.encode()),
        (b"x-hybridroute-request-id", ctx.request_id.encode()),
    ]
    if degraded:
        headers.append((b"x-hybridroute-degraded", b"true"))
    return headers


def passthrough_headers(resp: Response) -> list[tuple[bytes, bytes]]:
    return [
        (k, v) for k, v in resp.headers if k not in _DROP and not k.startswith(b"x-hybridroute-")
    ]


async def send_body(
    ctx: RequestContext,
    send: Send,
    cand: Candidate,
    status: int,
    upstream_headers: list[tuple[bytes, bytes]],
    body: bytes,
    reason: str,
    degraded: bool,
) -> Sent:
    headers = upstream_headers + routing_headers(ctx, cand, reason, degraded)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return Sent(status, cand.role, cand.version, reason, degraded, body=body)


async def send_buffered(
    ctx: RequestContext, send: Send, resp: Response, cand: Candidate, reason: str, degraded: bool
) -> Sent:
    try:
        body = await resp.read()
    except UpstreamError as exc:
        status = 504 if exc.kind == "timeout" else 502
        body = error_body(
            status, "the upstream model failed while answering", code="upstream_error"
        )
        return await send_body(
            ctx,
            send,
            cand,
            status,
            [(b"content-type", b"application/json")],
            body,
            reason,
            degraded,
        )
    return await send_body(
        ctx, send, cand, resp.status, passthrough_headers(resp), body, reason, degraded
    )


async def send_stream(
    ctx: RequestContext, send: Send, resp: Response, cand: Candidate, reason: str, degraded: bool
) -> Sent:
    """Pass the body through chunk by chunk as it arrives (never buffered whole). A
    failure after the first byte ends the stream with an SSE error event, which the
    OpenAI SDKs raise as an APIError."""
    headers = passthrough_headers(resp) + routing_headers(ctx, cand, reason, degraded)
    await send({"type": "http.response.start", "status": resp.status, "headers": headers})
    sent = Sent(resp.status, cand.role, cand.version, reason, degraded)
    kept = sent.chunks = [] if ctx.extra.get("shadow") else None
    watcher = (
        asyncio.get_running_loop().create_task(_close_on_disconnect(ctx, ctx.receive, resp))
        if ctx.receive is not None
        else None
    )
    tail = b""  # an SSE event split across network chunks is parsed once complete
    try:
        while (chunk := await resp.next_chunk()) is not None:
            if tail or not chunk.endswith(b"\n\n"):
                complete, tail = split_events(tail + chunk)
                if len(tail) > _MAX_TAIL:  # no usage event is that long
                    tail = b""
            else:
                complete = chunk
            if b'"usage"' in complete:
                sent.usage_chunk = complete
            if kept is not None:
                kept.append(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UpstreamError as exc:
        resp.close()
        if ctx.client_gone:  # nobody to tell: not an upstream failure either
            sent.status = CLIENT_CLOSED
            return sent
        event = _encoder.encode(
            {
                "error": {
                    "message": f"upstream stream failed: {exc.kind}",
                    "type": "upstream_error",
                    "param": None,
                    "code": "upstream_stream_error",
                }
            }
        )
        await send(
            {"type": "http.response.body", "body": b"data: " + event + b"\n\n", "more_body": True}
        )
        sent.status = UPSTREAM_STREAM_FAILED  # the client already has 200
    finally:
        if b'"usage"' in tail:  # a last event without its blank line
            sent.usage_chunk = tail
        resp.close()
        if watcher is not None:
            watcher.cancel()  # not awaited: that would tie this frame to its traceback
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return sent


async def _close_on_disconnect(ctx: RequestContext, receive: Receive, resp: Response) -> None:
    """When the client goes away mid-stream, close the upstream exchange: the model
    server stops generating and the stream loop ends at once."""
    while (await receive())["type"] != "http.disconnect":
        pass
    ctx.client_gone = True
    resp.close()


_MAX_TAIL = 65536


def split_events(data: bytes) -> tuple[bytes, bytes]:
    """(the complete SSE events, the incomplete rest) of a piece of an SSE stream."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\n\r\n")
    end = max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)
    return data[:end], data[end:]


def sse_events(data: bytes) -> list[Any]:
    """Decoded JSON payloads of the ``data:`` lines of an SSE body (others skipped)."""
    out = []
    for line in data.split(b"\n"):
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            if payload and payload != b"[DONE]":
                try:
                    out.append(_decoder.decode(payload))
                except msgspec.DecodeError:
                    continue
    return out


def usage_of(sent: Sent) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) reported by the upstream, 0 when absent."""
    if sent.parsed is not None and isinstance(sent.parsed, dict):
        return usage_tokens(sent.parsed.get("usage"))
    if sent.usage_chunk is not None:
        return sse_usage(sse_events(sent.usage_chunk))
    return 0, 0


def streamed_text(data: bytes) -> str:
    """The first choice's text of an SSE stream: chat deltas or completion texts."""
    parts: list[str] = []
    for event in sse_events(data):
        choices = event.get("choices") if isinstance(event, dict) else None
        if not isinstance(choices, list):
            continue
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def sse_usage(events: list[Any]) -> tuple[int, int]:
    """Token counts from the last streamed event carrying a usage object."""
    usage: Any = None
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("usage"), dict):
            usage = event["usage"]
    return usage_tokens(usage)


def strip_logprobs(parsed: Any) -> None:
    """Null the logprobs the router added for the cascade (the client did not ask)."""
    if isinstance(parsed, dict) and isinstance(parsed.get("choices"), list):
        for choice in parsed["choices"]:
            if isinstance(choice, dict) and "logprobs" in choice:
                choice["logprobs"] = None


def strip_sse_logprobs(data: bytes) -> bytes:
    lines = []
    for line in data.split(b"\n"):
        if line.startswith(b"data:") and b'"logprobs"' in line:
            try:
                event = _decoder.decode(line[5:].strip())
            except msgspec.DecodeError:
                lines.append(line)
                continue
            strip_logprobs(event)
            line = b"data: " + _encoder.encode(event)
        lines.append(line)
    return b"\n".join(lines)
