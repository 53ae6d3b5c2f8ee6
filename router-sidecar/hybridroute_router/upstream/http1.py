"""A lean HTTP/1.1 client with a keep-alive connection pool, on asyncio protocols and
httptools' response parser.

Why not httpx: the router's budget is a fraction of a millisecond per request on one
core; a pooled protocol-level client costs several times less CPU per request than a
general-purpose client. It does only what the router needs: one request per connection
at a time, ``Content-Length`` request bodies, any response framing (length, chunked,
close-delimited), TLS, connect and read timeouts, streaming bodies with back-pressure.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from typing import Literal

import httptools

ErrorKind = Literal["connect", "timeout", "closed", "protocol", "pool"]
_PAUSE_ABOVE = 1 << 18  # buffered response bytes before the socket stops being read


class UpstreamError(Exception):
    """A transport failure talking to an upstream (never an HTTP error status)."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: ErrorKind = kind


class Response:
    """One request/response exchange on a pooled connection.

    Await :meth:`read` or iterate :meth:`iter_chunks` to the end (the connection goes
    back to the pool) or call :meth:`close` to abandon it (the connection is closed).
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_conn",
        "_done",
        "_paused",
        "_read_timeout",
        "_waiter",
        "complete",
        "error",
        "got_bytes",
        "head",
        "headers",
        "keep_alive",
        "parser",
        "status",
    )

    def __init__(self, conn: _Connection, read_timeout: float) -> None:
        self._conn = conn
        self._read_timeout = read_timeout
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.head: asyncio.Future[None] = conn.loop.create_future()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self.complete = False
        self.keep_alive = False
        self.error: UpstreamError | None = None
        self.got_bytes = False
        self._done = False
        # The parser holds this object's callbacks: a reference cycle, broken in _done()
        # so a finished exchange is freed at once instead of waiting for the collector.
        self.parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)

    # httptools callbacks -------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self.parser is not None
        self.status = self.parser.get_status_code()
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _PAUSE_ABOVE and not self._paused:
            self._paused = True
            self._conn.pause()
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    def close_delimited(self) -> bool:
        """Headers are in and give neither a length nor chunked framing."""
        if not self.head.done() or self.error is not None:
            return False
        return (
            self.header(b"content-length") is None
            and b"chunked" not in (self.header(b"transfer-encoding") or b"").lower()
        )

    # connection events ---------------------------------------------------------
    def fail(self, error: UpstreamError) -> None:
        if self.complete or self.error is not None:
            return
        self.error = error
        if not self.head.done():
            self.head.set_exception(error)
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # consumer API --------------------------------------------------------------
    async def wait_head(self) -> None:
        # A timer handle instead of asyncio.timeout(): a fraction of the cost per request.
        timer = self._conn.loop.call_later(self._read_timeout, self._expire, "no response headers")
        try:
            await self.head
        finally:
            timer.cancel()

    def _expire(self, what: str) -> None:
        """Read timeout: fail the exchange (waking whoever waits) and drop the connection."""
        if self.complete or self.error is not None:
            return
        self.fail(UpstreamError("timeout", f"{what} in {self._read_timeout:g}s"))
        self.close()

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    async def next_chunk(self) -> bytes | None:
        """The next piece of the body as it arrives; None at the end."""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if self._paused and self._buffered < _PAUSE_ABOVE // 2:
                    self._paused = False
                    self._conn.resume()
                return chunk
            if self.error is not None:
                self.close()
                raise self.error
            if self.complete:
                self._finish()
                return None
            loop = self._conn.loop
            self._waiter = loop.create_future()
            timer = loop.call_later(self._read_timeout, self._expire, "no body bytes")
            try:
                await self._waiter
            except asyncio.CancelledError:
                self.close()  # the reader is gone: free the connection slot
                raise
            finally:
                timer.cancel()
                self._waiter = None

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while (chunk := await self.next_chunk()) is not None:
            yield chunk

    async def read(self) -> bytes:
        if self.complete and self.error is None:  # fast path: it all came in one go
            body = b"".join(self._chunks)
            self._chunks.clear()
            self._finish()
            return body
        parts = []
        while (chunk := await self.next_chunk()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def _finish(self) -> None:
        if not self._done:
            self._done = True
            self.parser = None
            self._unpause()
            self._conn.exchange_done(self, reusable=self.keep_alive)

    def _unpause(self) -> None:
        """A connection going back to the pool reads again (it may have completed its
        response while paused, the last bytes crossing the threshold)."""
        if self._paused:
            self._paused = False
            self._conn.resume()

    def discard(self) -> None:
        """Forget a failed exchange without giving its pool slot back (it is reused)."""
        self._done = True
        self.parser = None
        self._conn.close()

    def close(self) -> None:
        """Abandon the exchange; an unfinished connection is closed, never reused. A
        reader still waiting for body bytes is woken with an error."""
        if not self._done:
            self._done = True
            self.parser = None
            if not self.complete and self.error is None:
                self.error = UpstreamError("closed", "exchange abandoned")
                self._wake()
            reusable = self.complete and self.keep_alive
            if reusable:
                self._unpause()
            self._conn.exchange_done(self, reusable=reusable)


class _Connection(asyncio.Protocol):
    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.exchange: Response | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None:  # bytes nobody asked for: the connection is unusable
            self.close()
            return
        ex.got_bytes = True
        parser = ex.parser
        if parser is None:  # a finished exchange: nothing more may arrive
            self.close()
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            ex.fail(UpstreamError("protocol", f"bad response: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        ex = self.exchange
        if ex is not None and not ex.complete and ex.close_delimited():
            ex.on_message_complete()  # a body without length or chunking ends at EOF
            ex.keep_alive = False
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ex = self.exchange
        if ex is not None:
            ex.fail(UpstreamError("closed", "connection closed before the response ended"))

    def pause(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Close at once, without a TLS close handshake (process shutdown)."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes, read_timeout: float) -> Response:
        ex = Response(self, read_timeout)
        self.exchange = ex
        assert self.transport is not None
        self.transport.write(data)
        return ex

    def exchange_done(self, ex: Response, *, reusable: bool) -> None:
        if self.exchange is ex:
            self.exchange = None
        if not reusable or not self.usable():
            self.close()
        self.pool.release(self, reusable=reusable)


class Pool:
    """Keep-alive connections to one origin (scheme, host, port)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int,
        connect_timeout: float,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self.max_connections = max_connections
        self._idle: deque[_Connection] = deque()
        self._busy: set[_Connection] = set()
        self._sem = asyncio.Semaphore(max_connections)
        self._closed = False
        self.in_use = 0

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, proto = await loop.create_connection(
                    lambda: _Connection(self, loop),
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=self.host if self.ssl_context else None,
                )
        except TimeoutError:
            raise UpstreamError(
                "connect", f"connect to {self.host}:{self.port} timed out"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamError("connect", f"connect to {self.host}:{self.port}: {exc}") from None
        return proto

    def _checkout_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    async def request(self, data: bytes, read_timeout: float) -> Response:
        """Send one request; return once the response headers are in."""
        if self._sem.locked():
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await self._sem.acquire()
            except TimeoutError:
                raise UpstreamError("pool", "no free connection in time") from None
        else:
            await self._sem.acquire()  # a free slot: returns at once
        self.in_use += 1
        ex: Response | None = None
        try:
            conn = self._checkout_idle()
            if conn is not None:
                self._busy.add(conn)
                ex = conn.send(data, read_timeout)
                try:
                    await ex.wait_head()
                    return ex
                except UpstreamError as exc:
                    # A reused connection the server had already closed: retry once on a
                    # fresh one, but only when nothing at all came back.
                    if exc.kind != "closed" or ex.got_bytes:
                        raise
                    self._busy.discard(conn)
                    ex.discard()
                    ex = None
            conn = await self._connect()
            self._busy.add(conn)
            ex = conn.send(data, read_timeout)
            await ex.wait_head()
            return ex
        except BaseException:
            if ex is not None:
                ex.close()  # idempotent; gives the slot back
            else:
                self.in_use -= 1
                self._sem.release()
            raise

    def release(self, conn: _Connection, *, reusable: bool) -> None:
        self._busy.discard(conn)
        self.in_use -= 1
        self._sem.release()
        if reusable and conn.usable() and not self._closed:
            self._idle.append(conn)
        else:
            conn.close()

    def close(self, *, abort: bool = False) -> None:
        """Retire the pool: idle connections close now, busy ones when their exchange
        ends. Requests still holding the old policy snapshot may still use it (each
        gets a fresh connection that is closed afterwards), so nothing in flight fails."""
        self._closed = True
        while self._idle:
            conn = self._idle.pop()
            if abort:
                conn.abort()
            else:
                conn.close()
        if abort:
            for conn in list(self._busy):
                conn.abort()
