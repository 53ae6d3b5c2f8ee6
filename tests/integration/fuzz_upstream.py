"""A fast OpenAI-compatible upstream for the fuzz runs, in a process of its own.

Raw ASGI on uvicorn: it answers every POST, whatever the body, with a pre-encoded chat or
text completion (with logprobs and usage), or an SSE stream of it when the body asks
for ``"stream":true``; it never fails, so any 5xx the fuzzing sees is the router's.

    python tests/integration/fuzz_upstream.py --port 18080
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
_LOGPROBS = {"content": [{"token": "ok", "logprob": -0.1, "bytes": None, "top_logprobs": []}]}


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _answers(chat: bool) -> tuple[bytes, bytes]:
    """(the JSON answer, the SSE answer) for chat or text completions."""
    if chat:
        choice: dict[str, Any] = {"message": {"role": "assistant", "content": "ok"}}
        delta: dict[str, Any] = {"delta": {"role": "assistant", "content": "ok"}}
    else:
        choice = {"text": "ok"}
        delta = {"text": "ok"}
    common = {"id": "fuzz", "created": 1, "model": "fuzz-model"}
    full = {
        **common,
        "object": "chat.completion" if chat else "text_completion",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": _LOGPROBS, **choice}],
        "usage": _USAGE,
    }
    chunk = {
        **common,
        "object": "chat.completion.chunk" if chat else "text_completion",
        "choices": [{"index": 0, "finish_reason": None, "logprobs": _LOGPROBS, **delta}],
    }
    last = {**common, "object": chunk["object"], "choices": [], "usage": _USAGE}
    sse = b"".join(b"data: " + _encode(e) + b"\n\n" for e in (chunk, last)) + b"data: [DONE]\n\n"
    return _encode(full), sse


_CHAT, _CHAT_SSE = _answers(True)
_TEXT, _TEXT_SSE = _answers(False)


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
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
    parts = []
    more = True
    while more:
        message = await receive()
        parts.append(message.get("body", b""))
        more = bool(message.get("more_body", False))
    body = b"".join(parts)
    chat = scope["path"].endswith("/chat/completions")
    if b'"stream":true' in body:
        payload = _CHAT_SSE if chat else _TEXT_SSE
        headers = [(b"content-type", b"text/event-stream")]
    else:
        payload = _CHAT if chat else _TEXT
        headers = [(b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level="warning",
        backlog=1024,
    )


if __name__ == "__main__":
    main()
