"""uvicorn's httptools protocol with one change: the writes of one answer leave in one
``send()``.

uvicorn writes a response's status line and headers as soon as the application sends
``http.response.start``, and the body when it sends ``http.response.body``: two system
calls and two TCP segments per answer, so the client is woken twice (on loopback the
sender pays for delivering each segment and waking the reader). Here the writes made on a
client connection are held until the answer is complete (flushed at once then) or, for a
streamed answer, until the end of the event-loop step that made them (a callback queued
with ``call_soon``): a buffered answer goes out in one segment, a streamed one as soon as
the step that produced its pieces yields, never later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_MAX_HELD_WRITES = 8
"""Writes held at most before a flush: an answer is a head and a body (a few writes);
more means a stream sending faster than the loop turns."""
_MAX_HELD_BYTES = 65536
"""A write this large (uvicorn's default high-water mark) is not held behind others."""


class CoalescingTransport(asyncio.Transport):
    """The client connection's transport as uvicorn's protocol sees it: writes are joined
    until :meth:`flush`; every other call goes to the real transport."""

    __slots__ = ("_loop", "_pending", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pending = self._pending
        if pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self.flush)  # a streamed piece never waits past this step
            return
        pending.append(bytes(data))
        if len(pending) > _MAX_HELD_WRITES or len(data) > _MAX_HELD_BYTES:
            # much written in one step (an app sending without yielding): out now, so the
            # real transport's buffer limits and uvicorn's flow control see it
            self.flush()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what was written (nothing when the connection is already closing)."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        if not self.transport.is_closing():
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self.transport.abort()

    def get_write_buffer_size(self) -> int:
        pending = sum(len(p) for p in self._pending) if self._pending else 0
        return self.transport.get_write_buffer_size() + pending

    def can_write_eof(self) -> bool:
        return self.transport.can_write_eof()

    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def is_reading(self) -> bool:
        return self.transport.is_reading()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self.transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.transport.get_protocol()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.transport.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.transport.get_write_buffer_limits()


class RouterHttpProtocol(HttpToolsProtocol):
    """``uvicorn.Config(http=RouterHttpProtocol)``: httptools, answers sent in one write."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))

    def on_response_complete(self) -> None:
        transport = self.transport
        if isinstance(transport, CoalescingTransport):
            transport.flush()  # the answer is whole: out now, before the app's bookkeeping
        super().on_response_complete()
