"""An OpenAI-compatible upstream that fails on purpose, for the router soak.

Raw ASGI on uvicorn. Every POST is answered with a small chat completion, or an SSE
stream of it when the body asks for ``"stream":true``, except that, drawn at random per
request:

- ``--error-rate``: a 500 with an OpenAI-style error body;
- ``--slow-rate``: the answer only after ``--slow-seconds`` (past the router's timeout);
- ``--cut-rate`` (streams only): the connection is dropped after two chunks.

    python bench/soak/faulty_upstream.py --port 18081 --error-rate 0.05 --slow-rate 0.01
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

USAGE = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


ANSWER = _encode(
    {
        "id": "soak",
        "object": "chat.completion",
        "created": 1,
        "model": "soak-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there, friend!"},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
)
CHUNKS = [
    b"data: "
    + _encode(
        {
            "id": "soak",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "soak-model",
            "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
        }
    )
    + b"\n\n"
    for word in ("Hello", " there,", " friend", "!")
]
USAGE_EVENT = (
    b"data: "
    + _encode(
        {
            "id": "soak",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "soak-model",
            "choices": [],
            "usage": USAGE,
        }
    )
    + b"\n\n"
)
ERROR = _encode({"error": {"message": "injected failure", "type": "server_error", "code": None}})


class CutStream(Exception):
    """Raised inside the app: uvicorn drops the connection mid-stream."""


class Faulty:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rnd = random.Random(args.seed)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = bool(message.get("more_body", False))
        if scope["method"] != "POST":
            await self._send(send, 200, b'{"status":"ok"}', b"application/json")
            return
        a, draw = self.args, self.rnd.random()
        if draw < a.error_rate:
            await self._send(send, 500, ERROR, b"application/json")
            return
        if draw < a.error_rate + a.slow_rate:
            await asyncio.sleep(a.slow_seconds)
        if b'"stream":true' in b"".join(parts):
            await self._stream(send, cut=self.rnd.random() < a.cut_rate)
        else:
            await self._send(send, 200, ANSWER, b"application/json")

    @staticmethod
    async def _send(send: Send, status: int, body: bytes, ctype: bytes) -> None:
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _stream(send: Send, *, cut: bool) -> None:
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i, chunk in enumerate(CHUNKS):
            if cut and i == 2:
                raise CutStream("stream cut on purpose")
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": USAGE_EVENT, "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--error-rate", type=float, default=0.05)
    p.add_argument("--slow-rate", type=float, default=0.01)
    p.add_argument("--slow-seconds", type=float, default=3.0)
    p.add_argument("--cut-rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    uvicorn.run(
        Faulty(args),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="critical",  # the cut streams are on purpose: no traceback per cut
        backlog=2048,
    )


if __name__ == "__main__":
    main()
