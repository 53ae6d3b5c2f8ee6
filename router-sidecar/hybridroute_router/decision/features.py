"""Request features: what the decision looks at, extracted from a parsed request body.

Pure and cheap: one pass of a few precompiled regular expressions over the last user
message, no tokenizer (token counts are estimated at ~4 characters per token).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_CODE = re.compile(
    r"```|\bdef \w+\(|\bclass \w+[:(]|\bfunction\s*\w*\(|#include\s*<|\bimport \w+|=>|"
    r"\bSELECT\b.+\bFROM\b|\bpublic static\b|[{};]\s*$|\bfn \w+\(",
    re.MULTILINE,
)
_MATH = re.compile(
    r"\\(?:frac|int|sum|sqrt|lim|prod)|\$[^$\n]+\$|\b\d+\s*[-+*/^=]\s*\d+|"
    r"\b(?:integral|derivative|equation|theorem|prove|probability|matrix|eigen\w*)\b",
    re.IGNORECASE,
)
_MULTI_STEP = re.compile(
    r"\b(?:step[- ]by[- ]step|first\b.{0,200}\bthen\b|explain why|compare|analy[sz]e|design|"
    r"trade-?offs?|plan|outline|derive|justify)\b|^\s*(?:\d+[.)]|[-*])\s+\S",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Features:
    """What the decision and the heuristic scorer need to know about a request."""

    prompt: str
    """The last user message (or the completion prompt): what scorers see."""
    tokens: int
    """Estimated tokens of the whole conversation."""
    has_code: bool
    has_math: bool
    multi_step: bool
    questions: int
    depth: int
    """Conversation depth: the number of user turns."""


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: keep the text parts
        parts = [
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        ]
        return "\n".join(parts)
    return ""


def conversation(body: dict[str, Any]) -> tuple[str, int, int]:
    """(last user text, total characters, user turns) of a chat or completion body."""
    messages = body.get("messages")
    if isinstance(messages, list):
        last = ""
        total = 0
        turns = 0
        for m in messages:
            if not isinstance(m, dict):
                continue
            text = _content_text(m.get("content"))
            total += len(text)
            if m.get("role") == "user":
                turns += 1
                last = text
        return last, total, turns
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = "\n".join(p for p in prompt if isinstance(p, str))
    if not isinstance(prompt, str):
        prompt = ""
    return prompt, len(prompt), 1


def text_features(prompt: str, *, total_chars: int | None = None, depth: int = 1) -> Features:
    chars = len(prompt) if total_chars is None else total_chars
    return Features(
        prompt=prompt,
        tokens=(chars + 3) // 4,
        has_code=_CODE.search(prompt) is not None,
        has_math=_MATH.search(prompt) is not None,
        multi_step=_MULTI_STEP.search(prompt) is not None,
        questions=prompt.count("?"),
        depth=max(depth, 1),
    )


def extract(body: dict[str, Any]) -> Features:
    prompt, total, turns = conversation(body)
    return text_features(prompt, total_chars=total, depth=turns)
