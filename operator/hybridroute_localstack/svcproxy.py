"""DEV-ONLY: a tiny userspace kube-proxy for the local stack.

Each proxied Service gets a listener on a loopback address and port; every accepted TCP
connection goes to one ready backend of the Service (round robin), bytes copied both
ways. With no ready backend the connection is closed at once (the way a Service without
endpoints refuses). Backends are set by the pod runner from the Service's EndpointSlices.
All listeners share one asyncio loop on a background thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

Backend = tuple[str, int]
CHUNK = 65536


@dataclass
class _Listener:
    server: asyncio.Server
    backends: tuple[Backend, ...] = ()
    turn: Iterator[int] = field(default_factory=itertools.count)


class ServiceProxies:
    """Listeners keyed by a name (``namespace/service:port``)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="service-proxies", daemon=True
        )
        self._listeners: dict[str, _Listener] = {}
        self._thread.start()

    def listening(self, key: str) -> bool:
        return key in self._listeners

    def listen(self, key: str, host: str, port: int) -> None:
        """Start listening on ``host:port`` for ``key`` (no-op when already there)."""
        if key in self._listeners:
            return
        future = asyncio.run_coroutine_threadsafe(self._open(key, host, port), self._loop)
        future.result(timeout=30)  # a busy proxy loop (every proxied byte) can be slow

    async def _open(self, key: str, host: str, port: int) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._forward(key, reader, writer)

        server = await asyncio.start_server(handle, host, port, reuse_address=True, backlog=512)
        self._listeners[key] = _Listener(server)

    def set_backends(self, key: str, backends: list[Backend]) -> None:
        listener = self._listeners.get(key)
        if listener is not None:
            listener.backends = tuple(sorted(backends))

    def backends(self, key: str) -> tuple[Backend, ...]:
        listener = self._listeners.get(key)
        return listener.backends if listener is not None else ()

    def keys(self) -> list[str]:
        return list(self._listeners)

    def close(self, key: str) -> None:
        listener = self._listeners.pop(key, None)
        if listener is not None:
            self._loop.call_soon_threadsafe(listener.server.close)

    def stop(self) -> None:
        """Close every listener and open connection, then the loop and its thread."""
        if self._loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        with contextlib.suppress(Exception):
            future.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _shutdown(self) -> None:
        listeners = list(self._listeners.values())
        self._listeners.clear()
        for listener in listeners:
            listener.server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for listener in listeners:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.server.wait_closed(), 2)

    async def _forward(
        self, key: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        listener = self._listeners.get(key)
        backends = listener.backends if listener is not None else ()
        if listener is None or not backends:
            writer.close()
            return
        host, port = backends[next(listener.turn) % len(backends)]
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until either side ends, then close the destination (which ends the other
    direction too)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()
