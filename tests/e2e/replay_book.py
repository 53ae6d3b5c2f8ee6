"""Recorded outcomes as answers (pure): what a replayed model says to an MMLU question.

The RouteLLM CSVs (``../shared/data/routing-eval/mmlu/*.csv``) record, per question,
whether Mixtral-8x7B (the "small" model) and GPT-4 (the "large" model) answered it
correctly, but not which letter was right. The replay therefore fixes a stand-in answer
key: the key letter of a question is derived from the sha256 of its text, among the
options the question lists (``A.`` .. ``J.`` at the start of a line). A replayed model
that was right answers ``The answer is <key>.``; one that was wrong names the next
option instead. :func:`grade` marks an answer against the same key, so the quality of
answers that come back through the router equals the recorded accuracy of whichever
model answered them, and can be measured from the answer text alone.

Recorded outcomes carry no logprobs. When a client asks for them the replay reports a
synthetic per-token logprob: higher (closer to 0) when the recorded answer was right,
with a deterministic per-question spread so the two groups overlap (see
:func:`mean_logprob`). It lets a confidence cascade be exercised end to end; it says
nothing about how well real logprobs separate right from wrong answers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hybridroute_quality.datasets import Row, load

Role = Literal["small", "large"]
ROLES: tuple[Role, ...] = ("small", "large")

MMLU_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "routing-eval" / "mmlu"
"""The shared RouteLLM data, beside the checkout (CI clones ``../shared`` next to it)."""

UNKNOWN_ANSWER = "I have no recorded answer to this question."
_OPTION = re.compile(r"^([A-J])\.\s", re.MULTILINE)
_ANSWER = re.compile(r"\bThe answer is ([A-J])\b")


def prompt_key(text: str) -> str:
    """The lookup key of a question: its text without surrounding whitespace."""
    return text.strip()


def _unit(text: str, salt: str) -> float:
    """A deterministic number in [0, 1) from ``text``."""
    digest = hashlib.sha256(f"{salt}\0{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def options(prompt: str) -> list[str]:
    """The option letters a question lists: ``A``, ``B``, ... as long as each is there
    (``A``..``D`` for MMLU; a stray ``I.`` line in a question's text is not an option)."""
    found = set(_OPTION.findall(prompt))
    letters: list[str] = []
    for letter in "ABCDEFGHIJ":
        if letter not in found:
            break
        letters.append(letter)
    return letters if len(letters) >= 2 else ["A", "B", "C", "D"]


def answer_key(prompt: str) -> str:
    """The stand-in correct letter of a question."""
    letters = options(prompt_key(prompt))
    return letters[int(_unit(prompt_key(prompt), "key") * len(letters))]


def answer_letter(prompt: str, correct: bool) -> str:
    """The letter a replayed model gives: the key when it was right, else the next option."""
    letters = options(prompt_key(prompt))
    key = answer_key(prompt)
    if correct or len(letters) == 1:
        return key
    return letters[(letters.index(key) + 1) % len(letters)]


def answer_text(prompt: str, correct: bool) -> str:
    return f"The answer is {answer_letter(prompt, correct)}."


def grade(prompt: str, text: str) -> float:
    """1.0 when ``text`` names the question's key letter, else 0.0 (no letter: 0.0)."""
    found = _ANSWER.search(text)
    return 1.0 if found is not None and found.group(1) == answer_key(prompt) else 0.0


def mean_logprob(prompt: str, correct: bool) -> float:
    """The synthetic per-token logprob of a replayed answer: in [-0.4, -0.05] when the
    recorded answer was right, in [-1.0, -0.25] when it was wrong (deterministic)."""
    u = _unit(prompt_key(prompt), "logprob")
    return -(0.05 + 0.35 * u) if correct else -(0.25 + 0.75 * u)


@dataclass(frozen=True, slots=True)
class Outcome:
    """Whether each model answered one question correctly."""

    prompt: str
    subject: str
    small: bool
    large: bool

    def correct(self, role: Role) -> bool:
        return self.small if role == "small" else self.large


class ReplayBook:
    """Every recorded question, looked up by its text."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self._outcomes: dict[str, Outcome] = {}
        for row in rows:
            key = prompt_key(row.prompt)
            self._outcomes[key] = Outcome(key, row.group, row.small >= 0.5, row.large >= 0.5)

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> ReplayBook:
        """Load RouteLLM CSV or JSONL files (folders: every such file in them)."""
        return cls(load(paths, strict=True).rows)

    def __len__(self) -> int:
        return len(self._outcomes)

    def get(self, prompt: str) -> Outcome | None:
        return self._outcomes.get(prompt_key(prompt))

    def outcomes(self) -> list[Outcome]:
        """Every question, in the order the files list them."""
        return list(self._outcomes.values())

    def answer(self, role: Role, prompt: str) -> tuple[str, float]:
        """The replayed answer of ``role`` and its synthetic mean logprob. A question that
        is not in the book gets :data:`UNKNOWN_ANSWER` (graded 0) and logprob -1."""
        outcome = self.get(prompt)
        if outcome is None:
            return UNKNOWN_ANSWER, -1.0
        correct = outcome.correct(role)
        return answer_text(prompt, correct), mean_logprob(prompt, correct)
