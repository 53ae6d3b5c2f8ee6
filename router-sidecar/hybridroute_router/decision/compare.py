"""Comparators for shadow testing: how similar two answers are, in [0, 1] (pure)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Protocol

from hybridroute_router.decision.final_answer import final_answer

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed."""
    return _SPACE.sub(" ", _PUNCT.sub(" ", text.lower())).strip()


class Comparator(Protocol):
    name: str

    def similarity(self, a: str, b: str) -> float: ...


class ExactMatch:
    """1.0 when the normalized answers are equal, else 0.0."""

    name = "exact"

    def similarity(self, a: str, b: str) -> float:
        return 1.0 if normalize(a) == normalize(b) else 0.0


class TokenOverlap:
    """Token-level F1 of the normalized answers (SQuAD-style); two empty answers agree."""

    name = "token-overlap"

    def similarity(self, a: str, b: str) -> float:
        ta, tb = normalize(a).split(), normalize(b).split()
        if not ta and not tb:
            return 1.0
        if not ta or not tb:
            return 0.0
        common = sum((Counter(ta) & Counter(tb)).values())
        if common == 0:
            return 0.0
        precision, recall = common / len(ta), common / len(tb)
        return 2 * precision * recall / (precision + recall)


class FinalAnswerMatch:
    """1.0 when both answers state the same final answer, 0.0 when both state one of the
    same kind (option letter, number, boxed text) and they differ; otherwise (either
    states none, or a letter against a number) the token-overlap F1. What counts as a
    final answer: :mod:`hybridroute_router.decision.final_answer`."""

    name = "final-answer"

    def similarity(self, a: str, b: str) -> float:
        fa, fb = final_answer(a), final_answer(b)
        if fa is not None and fb is not None and fa.kind == fb.kind:
            return 1.0 if fa.value == fb.value else 0.0
        return TokenOverlap().similarity(a, b)


COMPARATORS: dict[str, type[ExactMatch] | type[TokenOverlap] | type[FinalAnswerMatch]] = {
    "exact": ExactMatch,
    "token-overlap": TokenOverlap,
    "final-answer": FinalAnswerMatch,
}


def make_comparator(name: str) -> Comparator:
    return COMPARATORS[name]()


def answer_text(body: object) -> str:
    """The first choice's text of a chat or completion response ('' when absent)."""
    if not isinstance(body, dict):
        return ""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    message = choice.get("message")
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        return str(message["content"])
    text = choice.get("text")
    return text if isinstance(text, str) else ""
