"""Server-sent events of a streamed OpenAI answer: framing, payloads and the answer text.
Pure functions of bytes (the router's usage counting, cascade and shadow read them)."""

from __future__ import annotations

from typing import Any

import msgspec

_decoder = msgspec.json.Decoder()


def split_events(data: bytes) -> tuple[bytes, bytes]:
    """(the complete SSE events, the incomplete rest) of a piece of an SSE stream."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\n\r\n")
    end = max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)
    return data[:end], data[end:]


def sse_events(data: bytes) -> list[Any]:
    """Decoded JSON payloads of the ``data:`` lines of an SSE body (others skipped)."""
    out = []
    for line in data.split(b"\n"):
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            if payload and payload != b"[DONE]":
                try:
                    out.append(_decoder.decode(payload))
                except msgspec.DecodeError:
                    continue
    return out


def streamed_text(data: bytes) -> str:
    """The first choice's text of an SSE stream: chat deltas or completion texts."""
    parts: list[str] = []
    for event in sse_events(data):
        choices = event.get("choices") if isinstance(event, dict) else None
        if not isinstance(choices, list):
            continue
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)
