"""Parse and check a completion request body once; everything else passes through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from hybridroute_router.http.errors import HttpError

_decoder = msgspec.json.Decoder()

CHAT = "/chat/completions"
COMPLETIONS = "/completions"
MAX_DEPTH = 128
"""Deepest JSON nesting accepted (a tool schema needs a few tens of levels); deeper input
is refused before any recursive code sees it."""


@dataclass(slots=True)
class ParsedRequest:
    endpoint: str
    """Relative to /v1: '/chat/completions' or '/completions'."""
    body: dict[str, Any]
    stream: bool


def _too_deep() -> HttpError:
    return HttpError(
        400, f"request body is JSON nested deeper than {MAX_DEPTH} levels", code="json_too_deep"
    )


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def decode_json(raw: bytes) -> Any:
    """The JSON value of a request body, or a 400: not JSON, not UTF-8, or too deep."""
    try:
        value = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise HttpError(
            400, f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
    except UnicodeDecodeError as exc:
        raise HttpError(
            400, f"request body is not valid UTF-8 JSON: {exc.reason}", code="invalid_utf8"
        ) from None
    except RecursionError:
        raise _too_deep() from None
    # Nesting needs brackets: most bodies have too few to be too deep (two C-speed counts).
    if (
        isinstance(value, dict | list)
        and raw.count(b"[") + raw.count(b"{") > MAX_DEPTH
        and _deeper_than(value, MAX_DEPTH)
    ):
        raise _too_deep()
    return value


def parse_body(raw: bytes, endpoint: str | None, public_model: str) -> ParsedRequest:
    """``endpoint`` None means 'either' (the explain endpoint): guessed from the body."""
    body = decode_json(raw)
    if not isinstance(body, dict):
        raise HttpError(400, "request body must be a JSON object", code="invalid_body")
    if endpoint is None:
        endpoint = CHAT if "messages" in body else COMPLETIONS
    model = body.get("model")
    if not isinstance(model, str):
        raise HttpError(400, "'model' is required and must be a string", param="model")
    if model != public_model:
        raise HttpError(
            404,
            f"The model '{model[:200]}' does not exist; this router serves '{public_model}'",
            code="model_not_found",
            param="model",
        )
    if endpoint == CHAT:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HttpError(400, "'messages' must be a non-empty array", param="messages")
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise HttpError(
                    400, f"messages[{i}] must be an object with a 'role'", param=f"messages[{i}]"
                )
    else:
        prompt = body.get("prompt")
        if not isinstance(prompt, str | list):
            raise HttpError(400, "'prompt' must be a string or an array", param="prompt")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise HttpError(400, "'stream' must be a boolean", param="stream")
    return ParsedRequest(endpoint, body, stream)
