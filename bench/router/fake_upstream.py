"""A fast fake OpenAI-compatible upstream for the router benchmark.

Raw ASGI (no framework) on uvicorn with uvloop and httptools: it drains the request body
and answers every POST with the same small, pre-encoded chat completion, so that the cost
of the upstream stays small and constant across the arms of the benchmark. GET /v1/models
and GET /healthz answer too, for readiness probes. Non-streaming only.

    python bench/router/fake_upstream.py --port 18080
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODEL = "bench-model"

CHAT_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 14, "completion_tokens": 2, "total_tokens": 16},
    },
    separators=(",", ":"),
).encode()

MODELS = json.dumps(
    {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]},
    separators=(",", ":"),
).encode()

NOT_FOUND = json.dumps(
    {"error": {"message": "not found", "type": "invalid_request_error", "code": "not_found"}},
    separators=(",", ":"),
).encode()


def _headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]


_RESPONSES: dict[tuple[str, str], tuple[int, bytes]] = {
    ("GET", "/healthz"): (200, b"{}"),
    ("GET", "/v1/models"): (200, MODELS),
}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The whole server: one fixed answer per route, nothing parsed."""
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
    more = True
    while more:  # drain the body so keep-alive connections stay in sync
        message = await receive()
        more = bool(message.get("more_body", False))
    method, path = scope["method"], scope["path"]
    if method == "POST":
        status, body = 200, CHAT_COMPLETION  # /v1/chat/completions and anything else POSTed
    else:
        status, body = _RESPONSES.get((method, path), (404, NOT_FOUND))
    await send({"type": "http.response.start", "status": status, "headers": _headers(body)})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args(argv)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        server_header=False,
        date_header=False,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
