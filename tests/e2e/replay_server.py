"""An OpenAI-compatible model server that answers MMLU questions from recorded outcomes.

One process plays one model (``--role small`` replays Mixtral-8x7B, ``--role large``
GPT-4, per the RouteLLM data; see ``replay_book.py`` for how a recorded True/False
becomes an answer). It serves, on loopback by default:

- ``POST /v1/chat/completions`` and ``POST /v1/completions``: non-streaming, and SSE
  streaming with ``"stream": true`` (``stream_options.include_usage`` honoured);
  ``logprobs`` when asked (synthetic, see ``replay_book.mean_logprob``);
- ``GET /v1/models``; ``GET /replay/stats``: ``{"role", "requests", "unknown"}``, the
  requests this process answered (to check where a router really sent traffic).

Run one by hand (e.g. behind ``hybridroute-router`` for a demo)::

    .venv/bin/python tests/e2e/replay_server.py --role small --port 9001
    .venv/bin/python tests/e2e/replay_server.py --role large --port 9002 --latency-ms 300
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from replay_book import MMLU_DIR, ROLES, ReplayBook, Role

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


def _prompt_of(body: dict[str, Any], chat: bool) -> str:
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


def _usage(prompt: str, words: Sequence[str]) -> dict[str, int]:
    prompt_tokens = max(1, math.ceil(len(prompt) / 4))
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(words),
        "total_tokens": prompt_tokens + len(words),
    }


@dataclass
class ReplayServer:
    """The ASGI app of one replayed model."""

    book: ReplayBook
    role: Role
    model: str
    latency: float = 0.0
    requests: int = 0
    unknown: int = 0

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                if (await receive())["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/v1/models":
            models = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
            await _json(send, 200, models)
        elif method == "GET" and path == "/replay/stats":
            stats = {"role": self.role, "requests": self.requests, "unknown": self.unknown}
            await _json(send, 200, stats)
        elif method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            await self._complete(receive, send, chat=path.endswith("/chat/completions"))
        else:
            await _json(send, 404, _error(f"no route {method} {path}", "not_found"))

    async def _complete(self, receive: Receive, send: Send, *, chat: bool) -> None:
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            await _json(send, 400, _error("body is not JSON", "invalid_request_error"))
            return
        if not isinstance(body, dict):
            await _json(send, 400, _error("body must be an object", "invalid_request_error"))
            return
        prompt = _prompt_of(body, chat)
        self.requests += 1
        if self.book.get(prompt) is None:
            self.unknown += 1
        text, logprob = self.book.answer(self.role, prompt)
        if self.latency:
            await asyncio.sleep(self.latency)  # the model's own time to answer
        reply = _Reply(body, chat, self.model, prompt, text, logprob)
        if body.get("stream"):
            await reply.stream(send)
        else:
            await _json(send, 200, reply.full())


@dataclass(frozen=True)
class _Reply:
    request: dict[str, Any]
    chat: bool
    model: str
    prompt: str
    text: str
    logprob: float

    @property
    def words(self) -> list[str]:
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)]

    @property
    def object(self) -> str:
        return "chat.completion" if self.chat else "text_completion"

    def _logprobs(self, tokens: Sequence[str]) -> Any:
        if not self.request.get("logprobs"):
            return None
        if self.chat:
            return {
                "content": [
                    {"token": t, "logprob": self.logprob, "bytes": None, "top_logprobs": []}
                    for t in tokens
                ]
            }
        return {
            "tokens": list(tokens),
            "token_logprobs": [self.logprob] * len(tokens),
            "top_logprobs": None,
            "text_offset": [],
        }

    def full(self) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "finish_reason": "stop",
            "logprobs": self._logprobs(self.words),
        }
        if self.chat:
            choice["message"] = {"role": "assistant", "content": self.text}
        else:
            choice["text"] = self.text
        return {
            "id": "replay-1",
            "object": self.object,
            "created": 1,
            "model": self.model,
            "choices": [choice],
            "usage": _usage(self.prompt, self.words),
        }

    def _chunk(self, index: int, token: str | None) -> dict[str, Any]:
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
        return {
            "id": "replay-1",
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": 1,
            "model": self.model,
            "choices": [choice],
        }

    async def stream(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        words = self.words
        for i, word in enumerate(words):
            await _event(send, self._chunk(i, word))
        await _event(send, self._chunk(len(words), None))
        if (self.request.get("stream_options") or {}).get("include_usage"):
            usage = {**self._chunk(0, None), "choices": [], "usage": _usage(self.prompt, words)}
            await _event(send, usage)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def _event(send: Send, payload: dict[str, Any]) -> None:
    body = b"data: " + msgspec.json.encode(payload) + b"\n\n"
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = msgspec.json.encode(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--role", choices=ROLES, required=True, help="which recorded model to replay")
    p.add_argument("--model", help="model id it answers as (default: replay-<role>)")
    p.add_argument(
        "--data",
        action="append",
        type=Path,
        help=f"CSV/JSONL files or folders (default: {MMLU_DIR})",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--latency-ms", type=float, default=0.0, help="wait before each answer")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    book = ReplayBook.from_paths(args.data or [MMLU_DIR])
    app = ReplayServer(book, args.role, args.model or f"replay-{args.role}", args.latency_ms / 1000)
    print(f"replaying {len(book)} questions as {args.role} on {args.host}:{args.port}", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
