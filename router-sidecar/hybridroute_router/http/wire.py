"""Reading request bodies and sending small responses over ASGI."""

from __future__ import annotations

import re

from hybridroute_router.asgi_types import Message, Receive, Send
from hybridroute_router.http.errors import HttpError

JSON: tuple[tuple[bytes, bytes], ...] = ((b"content-type", b"application/json"),)
REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class ClientGone(Exception):
    """The client disconnected before its request body was read."""


class TrackedSend:
    """The ASGI ``send`` of one exchange, remembering how far the response got, so that
    an unexpected exception can still be answered properly (see ``RouterApp``)."""

    __slots__ = ("_send", "ended", "request_id", "start_headers", "started")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.ended = False
        self.start_headers: list[tuple[bytes, bytes]] = []
        self.request_id: str | None = None
        """Set once the request has an id (the completion endpoints)."""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.start_headers = message["headers"]
        elif not message.get("more_body", False):
            self.ended = True
        await self._send(message)

    @property
    def streaming(self) -> bool:
        """The response started without a Content-Length (chunked: an SSE stream)."""
        return all(k != b"content-length" for k, _ in self.start_headers)


def _too_large(limit: int) -> HttpError:
    return HttpError(413, f"request body over the {limit}-byte limit", code="body_too_large")


async def read_body(receive: Receive, limit: int, content_length: bytes | None) -> bytes:
    """The whole request body, refused (413) as soon as it is known to exceed ``limit``."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise HttpError(400, "invalid Content-Length") from None
        if declared > limit:
            raise _too_large(limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise _too_large(limit)
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    h = list(headers) if headers is not None else list(JSON)
    h.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": h})
    await send({"type": "http.response.body", "body": body})


async def error(
    send: Send,
    exc: HttpError,
    request_id: str | None = None,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = list(JSON)
    if request_id is not None:
        headers.append((b"x-hybridroute-request-id", request_id.encode()))
    if extra:
        headers.extend(extra)
    await respond(send, exc.status, exc.body(), headers)
