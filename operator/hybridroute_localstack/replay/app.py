"""The ASGI app of one replayed model: an OpenAI-compatible server answering from
recorded outcomes, with a concurrency capacity and vLLM-style ``/metrics``.

Serves ``POST /v1/chat/completions`` and ``POST /v1/completions`` (non-streaming, and
SSE with ``"stream": true``; ``stream_options.include_usage`` and ``logprobs``
honoured), ``GET /v1/models``, ``GET /metrics``, ``GET /health`` and
``GET /replay/stats`` (``{"role", "model", "requests", "unknown", "errors"}``).
Any ``model`` in a request is answered (and echoed back): the server plays one model.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybridroute_localstack.asgi import (
    Message,
    Receive,
    Send,
    end_events,
    lifespan,
    read_body,
    send_bytes,
    send_event,
    send_json,
    start_events,
)
from hybridroute_localstack.replay.behaviour import Behaviour, prompt_tokens, rationale
from hybridroute_localstack.replay.metrics import VllmMetrics
from hybridroute_localstack.replaybook import ReplayBook, answer_letter

MAX_BODY = 1 << 20


def prompt_of(body: dict[str, Any], chat: bool) -> str:
    """The last user message (text parts joined), or the completion prompt."""
    if not chat:
        prompt = body.get("prompt")
        return prompt if isinstance(prompt, str) else ""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return content if isinstance(content, str) else ""
    return ""


def error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@dataclass
class ReplayApp:
    """One replayed model (see :class:`Behaviour` for the knobs)."""

    book: ReplayBook
    behaviour: Behaviour
    seed: int | None = None
    requests: int = 0
    unknown: int = 0
    errors: int = 0
    _running: int = 0
    _waiting: int = 0
    _slots: asyncio.Semaphore | None = field(default=None, repr=False)
    _metrics: VllmMetrics | None = field(default=None, repr=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self.behaviour = self.behaviour.resolved()
        self._metrics = VllmMetrics(self.behaviour.model)
        self._random = random.Random(self.seed)  # noqa: S311 - error injection, not crypto

    @property
    def metrics(self) -> VllmMetrics:
        assert self._metrics is not None
        return self._metrics

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send, self._start)
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/v1/models":
            model = {"id": self.behaviour.model, "object": "model", "owned_by": "replay"}
            await send_json(send, 200, {"object": "list", "data": [model]})
        elif method == "GET" and path == "/metrics":
            await send_bytes(send, 200, self.metrics.exposition(), b"text/plain; version=0.0.4")
        elif method == "GET" and path == "/health":
            await send_bytes(send, 200, b"", b"text/plain")
        elif method == "GET" and path == "/replay/stats":
            await send_json(send, 200, self.stats())
        elif method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            await self._complete(receive, send, chat=path.endswith("/chat/completions"))
        else:
            await send_json(send, 404, error_body(f"no route {method} {path}", "not_found"))

    def _start(self) -> None:
        self._slots = asyncio.Semaphore(self.behaviour.capacity)

    def stats(self) -> dict[str, Any]:
        return {
            "role": self.behaviour.role,
            "model": self.behaviour.model,
            "requests": self.requests,
            "unknown": self.unknown,
            "errors": self.errors,
            "running": self._running,
            "waiting": self._waiting,
        }

    async def _complete(self, receive: Receive, send: Send, *, chat: bool) -> None:
        body = await read_json(receive)
        if not isinstance(body, dict):
            message = "body must be a JSON object"
            await send_json(send, 400, error_body(message, "invalid_request_error"))
            return
        started = time.monotonic()
        self.requests += 1
        self._waiting += 1
        self._occupancy()
        assert self._slots is not None, "lifespan startup did not run"
        async with self._slots:
            self._waiting -= 1
            self._running += 1
            self._occupancy()
            try:
                await self._serve(send, body, chat, started)
            finally:
                self._running -= 1
                self._occupancy()

    def _occupancy(self) -> None:
        self.metrics.occupancy(self._running, self._waiting, self.behaviour.capacity)

    async def _serve(self, send: Send, body: dict[str, Any], chat: bool, started: float) -> None:
        b = self.behaviour
        await asyncio.sleep(b.first_token_seconds())
        if b.error_rate and self._random.random() < b.error_rate:
            self.errors += 1
            self.metrics.replay.labels("error").inc()
            await send_json(send, 500, error_body("injected replay error", "server_error"))
            return
        prompt = prompt_of(body, chat)
        outcome = self.book.get(prompt)
        self.metrics.replay.labels("answered" if outcome else "unknown").inc()
        if outcome is None:
            self.unknown += 1
        text, logprob = self.book.answer(b.role, prompt, disagree=b.disagree, logprobs=b.logprobs)
        if outcome is not None:
            correct = outcome.correct(b.role) and not b.disagree
            text += rationale(answer_letter(prompt, correct), b.rationale_words)
        reply = Reply(body, chat, str(body.get("model") or b.model), prompt, text, logprob)
        self.metrics.ttft.observe(time.monotonic() - started)
        if body.get("stream"):
            await reply.stream(send, lambda: b.token_seconds(self._running))
        else:
            await asyncio.sleep(b.token_seconds(self._running) * len(reply.tokens))
            await send_json(send, 200, reply.full())
        self.metrics.e2e.observe(time.monotonic() - started)
        self.metrics.success.labels(b.model, "stop").inc()
        self.metrics.prompt_tokens.inc(reply.usage()["prompt_tokens"])
        self.metrics.generation_tokens.inc(len(reply.tokens))


@dataclass(frozen=True)
class Reply:
    """One answer, rendered as a completion or as SSE chunks."""

    request: dict[str, Any]
    chat: bool
    model: str
    prompt: str
    text: str
    logprob: float

    @property
    def tokens(self) -> list[str]:
        """The answer split at spaces, each later word with its leading space."""
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    def usage(self) -> dict[str, int]:
        prompt, completion = prompt_tokens(self.prompt), len(self.tokens)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _logprobs(self, tokens: Sequence[str]) -> Any:
        if not self.request.get("logprobs"):
            return None
        if self.chat:
            entries: list[dict[str, Any]] = [
                {"token": t, "logprob": self.logprob, "bytes": None, "top_logprobs": []}
                for t in tokens
            ]
            return {"content": entries}
        return {
            "tokens": list(tokens),
            "token_logprobs": [self.logprob] * len(tokens),
            "top_logprobs": None,
            "text_offset": [],
        }

    def _envelope(self, obj: str, choice: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "replay",
            "object": obj,
            "created": 1,
            "model": self.model,
            "choices": [choice],
        }

    def full(self) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "finish_reason": "stop",
            "logprobs": self._logprobs(self.tokens),
        }
        if self.chat:
            choice["message"] = {"role": "assistant", "content": self.text}
        else:
            choice["text"] = self.text
        reply = self._envelope("chat.completion" if self.chat else "text_completion", choice)
        reply["usage"] = self.usage()
        return reply

    def chunk(self, index: int, token: str | None) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "finish_reason": None if token is not None else "stop",
            "logprobs": self._logprobs([token]) if token is not None else None,
        }
        if self.chat:
            delta: dict[str, Any] = {} if token is None else {"content": token}
            if index == 0:
                delta["role"] = "assistant"
            choice["delta"] = delta
        else:
            choice["text"] = token or ""
        return self._envelope("chat.completion.chunk" if self.chat else "text_completion", choice)

    async def stream(self, send: Send, per_token: Callable[[], float]) -> None:
        await start_events(send, (b"cache-control", b"no-cache"))
        for i, token in enumerate(self.tokens):
            if i:
                await asyncio.sleep(per_token())
            await send_event(send, self.chunk(i, token))
        await send_event(send, self.chunk(len(self.tokens), None))
        if (self.request.get("stream_options") or {}).get("include_usage"):
            await send_event(send, {**self.chunk(1, None), "choices": [], "usage": self.usage()})
        await end_events(send)


async def read_json(receive: Receive) -> Any:
    """The request body as JSON; None when it is not JSON or larger than 1 MiB."""
    raw = await read_body(receive, MAX_BODY)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
