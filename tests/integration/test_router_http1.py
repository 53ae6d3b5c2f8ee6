"""The router's HTTP/1.1 upstream client against raw TCP servers on loopback that answer
in unusual but legal ways, or not legally at all."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from router_harness import policy_doc, running_router

pytestmark = pytest.mark.integration

BODY = {"model": "hybrid", "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}
ANSWER = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "four"}}]}'


class RawServer:
    """Accepts connections; ``reply(request_bytes) -> bytes`` decides what goes back,
    then the connection is closed."""

    def __init__(self, reply: Callable[[bytes], bytes]) -> None:
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(self.reply(head + b"\r\n\r\n" + body))


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[bytes], bytes]], RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Callable[[bytes], bytes]) -> RawServer:
        server = RawServer(reply)
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop.set()
        s.thread.join(timeout=5)
        s.sock.close()


def test_a_close_delimited_response_body_is_read_to_the_end(
    tmp_path: Path, raw_server: Callable[..., RawServer]
) -> None:
    up = raw_server(
        lambda _req: (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\n\r\n" + ANSWER
        )
    )
    with running_router(policy_doc(up.url, {"v1": up.url}), tmp_path) as r:
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "four"


def test_a_chunked_response_is_reassembled(
    tmp_path: Path, raw_server: Callable[..., RawServer]
) -> None:
    half = len(ANSWER) // 2
    chunks = b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (ANSWER[:half], ANSWER[half:])
    )
    up = raw_server(
        lambda _req: (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
        )
    )
    with running_router(policy_doc(up.url, {"v1": up.url}), tmp_path) as r:
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
    assert resp.json()["choices"][0]["message"]["content"] == "four"


@pytest.mark.parametrize(
    "reply",
    [
        b"",  # accepts, then closes without a byte
        b"SMTP ready\r\n\r\n",  # not HTTP at all
        b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"partial":',  # body cut short
    ],
    ids=["silent-close", "not-http", "truncated-body"],
)
def test_broken_upstream_answers_become_a_502(
    tmp_path: Path, raw_server: Callable[..., RawServer], reply: bytes
) -> None:
    up = raw_server(lambda _req: reply)
    doc = policy_doc(up.url, {"v1": up.url}, retries={"attempts": 1})
    with running_router(doc, tmp_path) as r:
        resp = httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
        again = httpx.get(f"{r.url}/healthz")
    assert resp.status_code == 502
    assert resp.json()["error"]["type"] == "upstream_error"
    assert again.status_code == 200


def test_the_request_line_and_headers_sent_upstream(
    tmp_path: Path, raw_server: Callable[..., RawServer]
) -> None:
    seen: list[bytes] = []

    def reply(req: bytes) -> bytes:
        seen.append(req)
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(ANSWER)).encode()
            + b"\r\n\r\n"
            + ANSWER
        )

    up = raw_server(reply)
    doc = policy_doc(up.url, {"v1": up.url})
    doc["small"]["versions"][0]["upstream"]["baseUrl"] = f"{up.url}/openai/v1"
    with running_router(doc, tmp_path) as r:
        httpx.post(f"{r.url}/v1/chat/completions", json=BODY)
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /openai/v1/chat/completions HTTP/1.1"
    assert f"Host: 127.0.0.1:{up.port}".encode() in lines
    assert b'"model":"small-v1"' in body


@pytest.mark.parametrize("end", ["read", "close"])
async def test_a_response_complete_while_paused_leaves_a_reusable_connection(end: str) -> None:
    """A response whose last bytes push the buffer over the pause threshold is complete
    while the socket is paused; read()'s fast path must resume it before the connection
    goes back to the pool, or the next request on it waits out the read timeout."""
    import asyncio
    import time

    from hybridroute_router.upstream.http1 import _PAUSE_ABOVE, Pool
    from router_harness import serving

    big = b"x" * (_PAUSE_ABOVE + 1)  # the threshold is crossed by the very last byte
    peers: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        peers.append(tuple(scope["client"]))
        while (await receive()).get("more_body"):
            pass
        body = big if scope["path"] == "/big" else b"small"
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    with serving(app) as server:
        pool = Pool(
            "127.0.0.1", server.port, ssl_context=None, max_connections=1, connect_timeout=2
        )
        request = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        first = await pool.request(request % b"/big", 3.0)
        deadline = time.monotonic() + 5
        while not first.complete:  # the whole body arrives before read() is called
            assert time.monotonic() < deadline
            await asyncio.sleep(0.001)
        if end == "read":
            assert await first.read() == big
        else:  # abandoned unread, but complete: the connection is still reusable
            first.close()
        t0 = time.monotonic()
        second = await pool.request(request % b"/small", 3.0)
        assert await second.read() == b"small"
        assert time.monotonic() - t0 < 1.0
        assert len(peers) == 2
        assert peers[0] == peers[1]  # the same pooled connection
        pool.close()
