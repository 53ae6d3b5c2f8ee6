"""Real HTTP servers on loopback for the router's tests: OpenAI-compatible upstream
test servers (configurable: slow, failing, streaming, with logprobs) and the router
itself, each under uvicorn in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import uvicorn
from hybridroute_router.asgi_types import Receive, Scope, Send


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a daemon thread."""

    def __init__(self, app: Any, *, port: int = 0, **config: Any) -> None:
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_level="warning",
            **config,
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextlib.contextmanager
def serving(app: Any, **config: Any) -> Iterator[ServerThread]:
    """``config``: extra uvicorn settings (e.g. ssl_certfile, timeout_keep_alive)."""
    s = ServerThread(app, **config).start()
    try:
        yield s
    finally:
        s.stop()


@dataclass
class FakeUpstream:
    """An OpenAI-compatible test server (a real HTTP server, canned behaviour).

    - ``answer``: the completion text; ``logprob``: every token's logprob
    - ``status``: HTTP status to answer with (500, 429... to fail)
    - ``delay``: seconds before the response headers; ``chunk_delay`` between SSE chunks
    - ``fail_after_chunks``: drop the connection after this many streamed chunks
    """

    name: str = "upstream"
    answer: str = "Paris is the capital of France."
    logprob: float = -0.05
    status: int = 200
    delay: float = 0.0
    chunk_delay: float = 0.0
    fail_after_chunks: int | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    """The client address of each request (to see connection reuse)."""
    on_request: Callable[[dict[str, Any]], None] | None = None
    supports_logprobs: bool = True
    rejects_logprobs: bool = False
    split_usage: bool = False
    """Streaming: send the usage event in two writes, split inside its JSON."""
    """Answer 400 to any request that carries ``logprobs`` (a server without them)."""
    gzip: bool = False
    """Answer non-streaming requests gzip-compressed (even though asked for identity)."""
    gate: threading.Event | None = None
    """Streaming: after the first chunk, wait for this event before sending the rest."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        req = msgspec.json.decode(body) if body else {}
        self.requests.append(req)
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        self.peers.append(tuple(scope["client"]) if scope.get("client") else None)
        if self.on_request is not None:
            self.on_request(req)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.rejects_logprobs and "logprobs" in req:
            err = {"error": {"message": "logprobs is not supported", "type": "invalid_request"}}
            await _send(send, 400, msgspec.json.encode(err))
            return
        if self.status != 200:
            err = {"error": {"message": f"{self.name} failing", "type": "server_error"}}
            await _send(send, self.status, msgspec.json.encode(err))
            return
        chat = scope["path"].endswith("/chat/completions")
        words = self.answer.split(" ")
        if req.get("stream"):
            await self._stream(send, req, chat, words)
            return
        full = msgspec.json.encode(self._full(req, chat, words))
        if self.gzip:
            await _send(send, 200, gzip.compress(full), [(b"content-encoding", b"gzip")])
            return
        await _send(send, 200, full)

    def _logprobs(self, req: dict[str, Any], chat: bool, words: list[str]) -> Any:
        if not req.get("logprobs") or not self.supports_logprobs:
            return None
        if chat:
            return {
                "content": [
                    {"token": w, "logprob": self.logprob, "bytes": None, "top_logprobs": []}
                    for w in words
                ]
            }
        return {
            "tokens": words,
            "token_logprobs": [self.logprob] * len(words),
            "top_logprobs": None,
            "text_offset": [],
        }

    def _full(self, req: dict[str, Any], chat: bool, words: list[str]) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "finish_reason": "stop",
            "logprobs": self._logprobs(req, chat, words),
        }
        if chat:
            choice["message"] = {"role": "assistant", "content": self.answer}
        else:
            choice["text"] = self.answer
        return {
            "id": f"cmpl-{self.name}",
            "object": "chat.completion" if chat else "text_completion",
            "created": 1,
            "model": req.get("model", ""),
            "choices": [choice],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": len(words),
                "total_tokens": 10 + len(words),
            },
        }

    def _chunk(self, req: dict[str, Any], chat: bool, i: int, text: str) -> dict[str, Any]:
        lp = None
        if req.get("logprobs") and self.supports_logprobs:
            token = {"token": text, "logprob": self.logprob, "bytes": None, "top_logprobs": []}
            lp = (
                {"content": [token]}
                if chat
                else {"tokens": [text], "token_logprobs": [self.logprob]}
            )
        choice: dict[str, Any] = {"index": 0, "finish_reason": None, "logprobs": lp}
        if chat:
            choice["delta"] = {"content": text} if i else {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        return {
            "id": f"cmpl-{self.name}",
            "created": 1,
            "model": req.get("model", ""),
            "object": "chat.completion.chunk" if chat else "text_completion",
            "choices": [choice],
        }

    async def _stream(self, send: Send, req: dict[str, Any], chat: bool, words: list[str]) -> None:
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
        await send(start)
        for i, w in enumerate(words):
            if self.fail_after_chunks is not None and i >= self.fail_after_chunks:
                raise RuntimeError("upstream drops the stream on purpose")
            await _event(send, self._chunk(req, chat, i, w if i == 0 else " " + w))
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            if i == 0 and self.gate is not None:
                await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 10)
        if (req.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": 10,
                "completion_tokens": len(words),
                "total_tokens": 10 + len(words),
            }
            event = {
                "id": f"cmpl-{self.name}",
                "created": 1,
                "model": req.get("model", ""),
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": usage,
            }
            if self.split_usage:
                body = b"data: " + msgspec.json.encode(event) + b"\n\n"
                cut = body.index(b'"usage"') + 3
                await send({"type": "http.response.body", "body": body[:cut], "more_body": True})
                await asyncio.sleep(0.05)  # two TCP writes: the router reads two chunks
                await send({"type": "http.response.body", "body": body[cut:], "more_body": True})
            else:
                await _event(send, event)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


async def _event(send: Send, payload: dict[str, Any]) -> None:
    body = b"data: " + msgspec.json.encode(payload) + b"\n\n"
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _send(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def fake_upstream(role: str, answer: str) -> Iterator[tuple[FakeUpstream, str]]:
    """A :class:`FakeUpstream` served on loopback, as the router tests' ``large`` and
    ``small`` fixtures yield it: the upstream (to inspect its requests) and its URL."""
    up = FakeUpstream(role, answer=answer)
    with serving(up) as s:
        yield up, s.url


def policy_doc(
    large_url: str,
    small_urls: dict[str, str],
    *,
    weights: dict[str, int] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """A policy document (camelCase, as in a file) for upstreams on loopback."""
    names = list(small_urls)
    if weights is None:
        weights = {n: 100 // len(names) for n in names}
        weights[names[0]] += 100 - sum(weights.values())
    doc: dict[str, Any] = {
        "route": "test",
        "publicModel": "hybrid",
        "large": {
            "upstream": {
                "baseUrl": f"{large_url}/v1",
                "model": "large-model",
                "timeouts": {"connectSeconds": 1, "readSeconds": 5},
            },
            "pricing": {"inputPer1kTokens": 0.01, "outputPer1kTokens": 0.03},
            "energy": {"joulesPer1kTokens": 3000},
        },
        "small": {
            "versions": [
                {
                    "name": n,
                    "weight": weights[n],
                    "upstream": {
                        "baseUrl": f"{u}/v1",
                        "model": f"small-{n}",
                        "timeouts": {"connectSeconds": 1, "readSeconds": 5},
                    },
                }
                for n, u in small_urls.items()
            ],
            "pricing": {"inputPer1kTokens": 0.001, "outputPer1kTokens": 0.002},
            "energy": {"joulesPer1kTokens": 300},
        },
        "logging": {},
    }
    for key, value in sections.items():
        doc[key] = value
    return doc


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``condition`` until it is truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(interval)


@dataclass
class RouterHandle:
    server: ServerThread
    app: Any
    policy_path: Any
    clients: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def rt(self) -> Any:
        return self.app.rt

    def openai(self, **kwargs: Any) -> Any:
        import openai

        client = openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key=kwargs.pop("api_key", "test-key"),
            max_retries=kwargs.pop("max_retries", 0),
            **kwargs,
        )
        self.clients.append(client)  # closed when the router stops
        return client

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()

    def write_policy(self, doc: dict[str, Any]) -> None:
        """Replace the policy file atomically (write + rename, like kubelet's swap)."""
        tmp = self.policy_path.with_suffix(".tmp")
        tmp.write_text(msgspec.json.encode(doc).decode())
        tmp.replace(self.policy_path)


@contextlib.contextmanager
def running_router(
    doc: dict[str, Any] | None,
    tmp_path: Any,
    *extra_args: str,
    tracing: Any = None,
) -> Iterator[RouterHandle]:
    """The router app from the CLI's own wiring; ``doc`` None: no policy file (e.g. a
    ConfigMap source in ``extra_args``)."""
    from hybridroute_router.cli import build_app, parser

    path = tmp_path / "policy.json"
    file_args: list[str] = []
    if doc is not None:
        path.write_text(msgspec.json.encode(doc).decode())
        file_args = ["--policy", str(path)]
    args = parser().parse_args(
        [*file_args, "--reload-interval", "0.05", "--decision-log", "off", *extra_args]
    )
    app = build_app(args)
    if tracing is not None:
        app.rt.tracing = tracing
    with serving(app) as server:
        handle = RouterHandle(server, app, path)
        try:
            yield handle
        finally:
            handle.close_clients()


def metrics_with(url: str, needle: str, timeout: float = 10.0) -> str:
    """The router's /metrics text, once it contains ``needle`` (polled to a deadline)."""
    import httpx

    def scrape() -> str | None:
        text = httpx.get(f"{url}/metrics").text
        return text if needle in text else None

    return str(wait_for(scrape, timeout=timeout))


def free_port() -> int:
    """A port free right now; a process told to bind it later can still lose a race, so
    callers retry (see :func:`router_process`)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RouterProcess:
    proc: Any
    port: int
    admin_port: int | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"


@contextlib.contextmanager
def router_process(
    policy_path: Any,
    *extra: str,
    admin: bool = False,
    tries: int = 3,
    log_path: Any = None,
    stdout: Any = None,
) -> Iterator[RouterProcess]:
    """The ``hybridroute-router`` console script on free ports; when a port was taken
    between choosing and binding it (the process exits), it is started again.
    ``log_path``: where its stderr goes (else a pipe read only if it exits at start, so
    a router that logs much would block on it). ``stdout``: a descriptor for its stdout
    (where a decision log of ``--decision-log -`` goes); else /dev/null."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import httpx

    exe = Path(sys.executable).with_name("hybridroute-router")
    for attempt in range(tries):
        port = free_port()
        admin_port = free_port() if admin else None
        ports = ["--port", str(port)]
        if admin_port is not None:
            ports += ["--admin-port", str(admin_port)]
        log = open(log_path, "ab") if log_path is not None else None  # noqa: SIM115
        proc = subprocess.Popen(
            [
                str(exe),
                "--policy",
                str(policy_path),
                *ports,
                "--decision-log",
                "off",
                "--log-level",
                "warning",
                *extra,
            ],
            stdout=subprocess.DEVNULL if stdout is None else stdout,
            stderr=subprocess.PIPE if log is None else log,
            env={**os.environ},
        )
        if log is not None:
            log.close()  # the child has its own copy
        handle = RouterProcess(proc, port, admin_port)
        probe = handle.admin_url if admin else handle.url

        def up(probe: str = probe, proc: Any = proc) -> bool:
            if proc.poll() is not None:
                return True  # exited: decided below
            try:
                return httpx.get(f"{probe}/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=30)
        if proc.poll() is None:
            break
        err = proc.stderr.read().decode() if proc.stderr else Path(log_path).read_text()
        if proc.stderr is not None:
            proc.stderr.close()
        if "address already in use" not in err.lower() or attempt == tries - 1:
            raise RuntimeError(f"hybridroute-router exited: {err[-2000:]}")
    try:
        yield handle
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr is not None:
            proc.stderr.close()
