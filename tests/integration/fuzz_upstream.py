"""A fast OpenAI-compatible upstream for the fuzz runs, in a process of its own.

Raw ASGI on uvicorn: it answers every POST, whatever the body, with a pre-encoded chat or
text completion (with logprobs and usage), or an SSE stream of it when the body asks
for ``"stream":true``; it never fails, so any 5xx the fuzzing sees is the router's.

    python tests/integration/fuzz_upstream.py --port 18080
"""

from __future__ import annotations

import argparse
from typing import Any

from hybridroute_localstack.asgi import (
    Message,
    Receive,
    Send,
    encode,
    lifespan,
    read_body,
    send_bytes,
    serve,
    sse,
)

_USAGE = {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
_LOGPROBS = {"content": [{"token": "ok", "logprob": -0.1, "bytes": None, "top_logprobs": []}]}


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
    return encode(full), sse(chunk) + sse(last) + b"data: [DONE]\n\n"


_CHAT, _CHAT_SSE = _answers(True)
_TEXT, _TEXT_SSE = _answers(False)


async def app(scope: Message, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        return await lifespan(receive, send)
    if scope["type"] != "http":
        return
    body = await read_body(receive) or b""
    chat = scope["path"].endswith("/chat/completions")
    if b'"stream":true' in body:
        await send_bytes(send, 200, _CHAT_SSE if chat else _TEXT_SSE, b"text/event-stream")
    else:
        await send_bytes(send, 200, _CHAT if chat else _TEXT, b"application/json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(app, port=args.port, backlog=1024)


if __name__ == "__main__":
    main()
