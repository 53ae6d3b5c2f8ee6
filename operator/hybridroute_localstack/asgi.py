"""Plumbing of the small loopback HTTP servers of the local stack and the tests (the replay
model servers, the fuzz and soak upstreams): raw ASGI on uvicorn with its fast loop.

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        body = await read_body(receive)
        await send_json(send, 200, {"ok": True})

    serve(app, port=8000)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def encode(value: Any) -> bytes:
    """Compact JSON."""
    return json.dumps(value, separators=(",", ":")).encode()


def sse(payload: Any) -> bytes:
    """One server-sent event: ``data: <compact JSON>`` and a blank line."""
    return b"data: " + encode(payload) + b"\n\n"


async def lifespan(
    receive: Receive, send: Send, on_startup: Callable[[], None] | None = None
) -> None:
    """Answer the lifespan protocol until shutdown (``on_startup`` runs before startup
    completes, inside the server's event loop)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if on_startup is not None:
                on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole request body; None as soon as it is longer than ``limit`` bytes."""
    parts: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        part = message.get("body", b"")
        parts.append(part)
        size += len(part)
        if limit is not None and size > limit:
            return None
        more = bool(message.get("more_body", False))
    return b"".join(parts)


async def send_bytes(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    """A whole response with its content type and length."""
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, payload: Any) -> None:
    await send_bytes(send, status, encode(payload), b"application/json")


async def start_events(send: Send, *extra: tuple[bytes, bytes]) -> None:
    """The start of a 200 server-sent-events response (``extra`` headers after its type)."""
    headers = [(b"content-type", b"text/event-stream"), *extra]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


async def send_event(send: Send, payload: Any) -> None:
    """One SSE ``data:`` event (more body follows)."""
    await send_chunk(send, sse(payload))


async def send_chunk(send: Send, body: bytes) -> None:
    """Part of a response body, more to follow."""
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def end_events(send: Send) -> None:
    """The ``data: [DONE]`` that ends an OpenAI-style stream, and the response."""
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def serve(
    app: Callable[..., Awaitable[None]],
    *,
    port: int,
    host: str = "127.0.0.1",
    log_level: str = "warning",
    backlog: int = 2048,
) -> None:
    """Run ``app`` on uvicorn (uvloop, httptools, lifespan on, no access log) until stopped."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        backlog=backlog,
    )
