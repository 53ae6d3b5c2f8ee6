"""Request features: what the decision looks at, extracted from a parsed request body.

Pure and cheap: substring checks over the lower-cased last user message and one small
regular expression, no tokenizer (token counts are estimated at ~4 characters per token).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Substring checks, not one big regular expression: ``in`` is a C-speed scan, so the
# cost stays at a few microseconds per kilobyte of prompt.
_CODE_MARKERS = (
    "```",
    "def ",
    "class ",
    "function ",
    "function(",
    "#include",
    "import ",
    "=>",
    "select ",
    "public static",
    "fn ",
    "return ",
    "console.log",
    "printf(",
    "};",
    ";\n",
    "{\n",
    "</",
)
_MATH_MARKERS = (
    "\\frac",
    "\\int",
    "\\sum",
    "\\sqrt",
    "\\lim",
    "integral",
    "derivative",
    "equation",
    "theorem",
    "prove",
    "probability",
    "matrix",
    "eigen",
    "√",
    "∫",
    "∑",
    "≤",
    "≥",
)
SCAN_CHARS = 4096
_ARITHMETIC = re.compile(r"\d\s*[-+*/^=]\s*\d")
_STEP_MARKERS = (
    "step by step",
    "step-by-step",
    "explain why",
    "compare",
    "analyze",
    "analyse",
    "design ",
    "trade-off",
    "tradeoff",
    "outline",
    "derive",
    "justify",
    "pros and cons",
    "\n1.",
    "\n1)",
    "\n- ",
    "\n* ",
)


def _has_code(text: str, low: str) -> bool:
    return any(map(low.__contains__, _CODE_MARKERS)) or text.rstrip().endswith((";", "}"))


def _has_math(text: str, low: str) -> bool:
    if any(map(low.__contains__, _MATH_MARKERS)):
        return True
    if text.count("$") >= 2:
        return True
    return _ARITHMETIC.search(text) is not None


def _multi_step(low: str) -> bool:
    if any(map(low.__contains__, _STEP_MARKERS)):
        return True
    first = low.find("first")
    return first >= 0 and low.find("then", first) >= 0


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
    # Structure is judged on at most the first and last 4 KiB: bounded cost per request.
    sample = (
        prompt
        if len(prompt) <= 2 * SCAN_CHARS
        else (prompt[:SCAN_CHARS] + "\n" + prompt[-SCAN_CHARS:])
    )
    low = sample.lower()
    return Features(
        prompt=prompt,
        tokens=(chars + 3) // 4,
        has_code=_has_code(sample, low),
        has_math=_has_math(sample, low),
        multi_step=_multi_step(low),
        questions=prompt.count("?"),
        depth=max(depth, 1),
    )


def extract(body: dict[str, Any]) -> Features:
    prompt, total, turns = conversation(body)
    return text_features(prompt, total_chars=total, depth=turns)
