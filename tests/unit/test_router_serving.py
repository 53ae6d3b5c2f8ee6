"""The router's uvicorn protocol (hybridroute_router.serving): an answer's head and body
leave in one write; a streamed answer's pieces leave at the end of the loop step that
made them. Driven through uvicorn's real httptools protocol with an in-memory transport
(RecordingTransport: a stand-in for the socket, which records what would be sent)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from hybridroute_router.asgi_types import Receive, Scope, Send
from hybridroute_router.serving import CoalescingTransport, RouterHttpProtocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

pytestmark = pytest.mark.unit

REQUEST = b"GET /answer HTTP/1.1\r\nHost: router\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """In-memory transport: every write() is kept as one entry (one send() on a socket)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.events.append("write")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def get_write_buffer_size(self) -> int:
        return 0


async def buffered(scope: Scope, receive: Receive, send: Send) -> None:
    body = b'{"answer":"four"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve(
    protocol_class: type[HttpToolsProtocol],
    app: Any,
    data: bytes,
    transport: RecordingTransport | None = None,
) -> RecordingTransport:
    """Feed requests to a fresh protocol on ``transport``; return the transport once
    every request task the protocol started has finished."""
    state = ServerState()
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_level="warning")
    protocol = protocol_class(config=config, server_state=state, app_state={})
    transport = transport or RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    await asyncio.gather(*state.tasks)
    return transport


async def test_a_buffered_answer_leaves_in_one_write() -> None:
    transport = await serve(RouterHttpProtocol, buffered, REQUEST)
    [answer] = transport.writes
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith(b'\r\n\r\n{"answer":"four"}')


async def test_uvicorns_own_protocol_writes_head_and_body_apart() -> None:
    """What the subclass changes: the plain protocol makes two writes per answer."""
    transport = await serve(HttpToolsProtocol, buffered, REQUEST)
    assert len(transport.writes) == 2


async def test_keep_alive_answers_each_request_in_one_write() -> None:
    transport = await serve(RouterHttpProtocol, buffered, REQUEST * 3)
    assert len(transport.writes) == 3
    assert all(w.startswith(b"HTTP/1.1 200 OK") for w in transport.writes)


async def test_a_streamed_piece_leaves_when_the_step_that_made_it_yields() -> None:
    sent = asyncio.Event()
    gate = asyncio.Event()

    async def streamed(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        sent.set()
        await gate.wait()  # the rest of the stream is not ready yet
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": False})

    transport = RecordingTransport()
    task = asyncio.ensure_future(serve(RouterHttpProtocol, streamed, REQUEST, transport))
    await sent.wait()  # the flush queued in the app's step runs before this waiter
    # head and first piece are out, in one write, while the app waits for its next piece
    assert not task.done()
    [first] = transport.writes
    assert first.startswith(b"HTTP/1.1 200 OK")
    assert first.endswith(b"data: one\n\n\r\n")
    gate.set()
    await task
    assert b"".join(transport.writes[1:]) == b"b\r\ndata: two\n\n\r\n0\r\n\r\n"


def test_pending_bytes_go_out_before_the_connection_closes() -> None:
    loop = asyncio.new_event_loop()
    try:
        real = RecordingTransport()
        coalescing = CoalescingTransport(real, loop)
        coalescing.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        coalescing.write(b"bad")
        coalescing.close()
        assert real.events == ["write", "close"]
        assert real.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\nbad"]
    finally:
        loop.run_until_complete(asyncio.sleep(0))  # runs the (now empty) queued flush
        loop.close()


def test_nothing_is_written_to_a_connection_already_closing() -> None:
    loop = asyncio.new_event_loop()
    try:
        real = RecordingTransport()
        coalescing = CoalescingTransport(real, loop)
        coalescing.write(b"late")
        real.closing = True  # the peer went away before the flush
        coalescing.flush()
        assert real.writes == []
        assert coalescing.get_write_buffer_size() == 0
    finally:
        loop.close()


@pytest.mark.parametrize(
    "pieces",
    [[b"x" * 100] * 50, [b"head", b"y" * 200_000, b"tail"]],
    ids=["many small writes", "one large write"],
)
def test_much_written_in_one_step_reaches_the_socket_before_the_step_ends(
    pieces: list[bytes],
) -> None:
    """Held writes must not hide a fast sender from the real transport's buffer limits
    (uvicorn's flow control pauses the app only once the socket's buffer is full)."""
    loop = asyncio.new_event_loop()
    try:
        real = RecordingTransport()
        coalescing = CoalescingTransport(real, loop)
        for piece in pieces:
            coalescing.write(piece)
        assert real.writes, "nothing reached the socket while the step kept writing"
        held = coalescing.get_write_buffer_size()
        assert held <= 8 * 100 + 4, held
        loop.run_until_complete(asyncio.sleep(0))  # the step ends: the rest goes out
        assert b"".join(real.writes) == b"".join(pieces)
    finally:
        loop.close()
