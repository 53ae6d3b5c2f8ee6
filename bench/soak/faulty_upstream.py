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
import random

from hybridroute_localstack.asgi import (
    Message,
    Receive,
    Send,
    encode,
    end_events,
    lifespan,
    read_body,
    send_bytes,
    send_chunk,
    serve,
    sse,
    start_events,
)

USAGE = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
ANSWER = encode(
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
CHUNK = {"id": "soak", "object": "chat.completion.chunk", "created": 1, "model": "soak-model"}
CHUNKS = [
    sse({**CHUNK, "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]})
    for word in ("Hello", " there,", " friend", "!")
]
USAGE_EVENT = sse({**CHUNK, "choices": [], "usage": USAGE})
ERROR = encode({"error": {"message": "injected failure", "type": "server_error", "code": None}})


class CutStream(Exception):
    """Raised inside the app: uvicorn drops the connection mid-stream."""


class Faulty:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rnd = random.Random(args.seed)

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        if scope["type"] != "http":
            return
        body = await read_body(receive) or b""
        if scope["method"] != "POST":
            await send_bytes(send, 200, b'{"status":"ok"}', b"application/json")
            return
        a, draw = self.args, self.rnd.random()
        if draw < a.error_rate:
            await send_bytes(send, 500, ERROR, b"application/json")
            return
        if draw < a.error_rate + a.slow_rate:
            await asyncio.sleep(a.slow_seconds)
        if b'"stream":true' in body:
            await self._stream(send, cut=self.rnd.random() < a.cut_rate)
        else:
            await send_bytes(send, 200, ANSWER, b"application/json")

    @staticmethod
    async def _stream(send: Send, *, cut: bool) -> None:
        await start_events(send)
        for i, chunk in enumerate(CHUNKS):
            if cut and i == 2:
                raise CutStream("stream cut on purpose")
            await send_chunk(send, chunk)
        await send_chunk(send, USAGE_EVENT)
        await end_events(send)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--error-rate", type=float, default=0.05)
    p.add_argument("--slow-rate", type=float, default=0.01)
    p.add_argument("--slow-seconds", type=float, default=3.0)
    p.add_argument("--cut-rate", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    # the cut streams are on purpose: no traceback per cut
    serve(Faulty(args), port=args.port, log_level="critical")


if __name__ == "__main__":
    main()
