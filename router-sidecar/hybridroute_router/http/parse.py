"""Parse and check a completion request body once; everything else passes through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from hybridroute_router.http.errors import HttpError

_decoder = msgspec.json.Decoder()

CHAT = "/chat/completions"
COMPLETIONS = "/completions"


@dataclass(slots=True)
class ParsedRequest:
    endpoint: str
    """Relative to /v1: '/chat/completions' or '/completions'."""
    body: dict[str, Any]
    stream: bool


def parse_body(raw: bytes, endpoint: str | None, public_model: str) -> ParsedRequest:
    """``endpoint`` None means 'either' (the explain endpoint): guessed from the body."""
    try:
        body = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise HttpError(
            400, f"request body is not valid JSON: {exc}", code="invalid_json"
        ) from None
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
