"""Confidence of a small-model answer from its token logprobs (pure).

Chat completions carry ``choices[0].logprobs.content[].logprob``; legacy completions
carry ``choices[0].logprobs.token_logprobs[]``. Streaming chunks carry the same shapes
per chunk; :class:`LogprobAccumulator` sums them across chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def _choice_logprobs(choice: Any) -> list[float]:
    if not isinstance(choice, dict):
        return []
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return []
    out: list[float] = []
    content = lp.get("content")
    if isinstance(content, list):
        for item in content:
            v = item.get("logprob") if isinstance(item, dict) else None
            if isinstance(v, int | float) and math.isfinite(v):
                out.append(float(v))
        return out
    tokens = lp.get("token_logprobs")
    if isinstance(tokens, list):
        out.extend(float(v) for v in tokens if isinstance(v, int | float) and math.isfinite(v))
    return out


def first_choice_logprobs(body: Any) -> list[float]:
    """Token logprobs of the first choice of a response or a streamed chunk."""
    if not isinstance(body, dict):
        return []
    choices = body.get("choices")
    if not isinstance(choices, list):
        return []
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return _choice_logprobs(choice)
    return []


def mean_logprob(body: Any) -> float | None:
    values = first_choice_logprobs(body)
    return sum(values) / len(values) if values else None


@dataclass(slots=True)
class LogprobAccumulator:
    total: float = 0.0
    count: int = 0

    def add(self, chunk: Any) -> None:
        values = first_choice_logprobs(chunk)
        self.total += sum(values)
        self.count += len(values)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


def is_confident(mean: float | None, min_mean_logprob: float) -> bool | None:
    """True/False against the threshold; None when the answer carried no logprobs."""
    if mean is None:
        return None
    return mean >= min_mean_logprob
