"""Recorded outcomes as answers (pure): what a replayed model says to an MMLU question.

The RouteLLM CSVs (``../shared/data/routing-eval/mmlu/*.csv``) record, per question,
whether Mixtral-8x7B (the "small" model) and GPT-4 (the "large" model) answered it
correctly, but not which letter was right. The replay therefore fixes a stand-in answer
key: the key letter of a question is derived from the sha256 of its text, among the
options it lists (``A.`` .. ``J.`` at the start of a line). A replayed model that was
right answers ``The answer is <key>.``; one that was wrong names the next option. So
:func:`grade` marks any answer from its text alone, and the quality of answers coming
back through the router equals the recorded accuracy of whichever model answered.

Recorded outcomes carry no logprobs: the replay reports a synthetic per-token logprob,
closer to 0 when the recorded answer was right, with a deterministic per-question spread
(:func:`mean_logprob`). The ranges are a setting (:class:`LogprobRanges`):
:data:`OVERLAPPING` by default (AUROC 0.75, a weak signal), :data:`SEPARATED` for tests
that want a cascade to catch most wrong answers. It lets a confidence cascade run end
to end; it says nothing about how well real logprobs separate right from wrong.

A prompt that is not in the book gets :data:`UNKNOWN_ANSWER` (graded 0, logprob -1).

This module reads the files itself because the local stack imports nothing of the
product (``hybridroute_quality.datasets`` reads the same formats).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["small", "large"]
ROLES: tuple[Role, ...] = ("small", "large")

UNKNOWN_ANSWER = "I have no recorded answer to this question."
UNKNOWN_LOGPROB = -1.0
_OPTION = re.compile(r"^([A-J])\.\s", re.MULTILINE)
_ANSWER = re.compile(r"\bThe answer is ([A-J])\b")
_TRUE = {"true", "1", "yes", "1.0"}
_FALSE = {"false", "0", "no", "0.0"}


def default_data_dir() -> Path:
    """``$HYBRIDROUTE_EVAL_DATA``, else the shared RouteLLM MMLU data beside the checkout."""
    configured = os.environ.get("HYBRIDROUTE_EVAL_DATA")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "routing-eval" / "mmlu"


def prompt_key(text: str) -> str:
    """The lookup key of a question: its text without surrounding whitespace."""
    return text.strip()


def _unit(text: str, salt: str) -> float:
    """A deterministic number in [0, 1) from ``text``."""
    digest = hashlib.sha256(f"{salt}\0{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def options(prompt: str) -> list[str]:
    """The option letters a question lists, ``A``, ``B``, ... while each is there
    (``A``..``D`` when the question lists fewer than two)."""
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
    """The key when the model was right, else the next option."""
    letters = options(prompt_key(prompt))
    key = answer_key(prompt)
    if correct:
        return key
    return letters[(letters.index(key) + 1) % len(letters)]


def answer_text(prompt: str, correct: bool) -> str:
    return f"The answer is {answer_letter(prompt, correct)}."


def grade(prompt: str, text: str) -> float:
    """1.0 when ``text`` names the question's key letter, else 0.0 (no letter: 0.0)."""
    found = _ANSWER.search(text)
    return 1.0 if found is not None and found.group(1) == answer_key(prompt) else 0.0


@dataclass(frozen=True, slots=True)
class LogprobRanges:
    """Where the synthetic mean logprob of an answer lies: ``right`` when the recorded
    answer was right, ``wrong`` when it was wrong, each ``(low, high)`` with
    ``low <= high <= 0``."""

    right: tuple[float, float]
    wrong: tuple[float, float]

    def __post_init__(self) -> None:
        for name, (low, high) in (("right", self.right), ("wrong", self.wrong)):
            if not low <= high <= 0:
                raise ValueError(f"{name} logprobs ({low}, {high}): need low <= high <= 0")

    def at(self, correct: bool, unit: float) -> float:
        """The logprob at ``unit`` in [0, 1) of the range: 0 is ``high``."""
        low, high = self.right if correct else self.wrong
        return high - (high - low) * unit


OVERLAPPING = LogprobRanges(right=(-0.5, -0.05), wrong=(-0.7, -0.15))
"""The default: the ranges overlap on purpose, a right answer is more confident than a
wrong one 75% of the time (AUROC 0.75), a weak signal like a real small model's
confidence, so a confidence cascade catches some wrong answers and lets others through."""

SEPARATED = LogprobRanges(right=(-0.4, -0.05), wrong=(-1.0, -0.25))
"""Better separated ranges (a bound at -0.3 escalates most wrong answers and few right
ones), for tests of the cascade through the whole stack."""


def mean_logprob(prompt: str, correct: bool, ranges: LogprobRanges = OVERLAPPING) -> float:
    """Synthetic per-token logprob, uniform per question within ``ranges``
    (deterministic: the same question sits at the same place of either range)."""
    return ranges.at(correct, _unit(prompt_key(prompt), "logprob"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """Whether each model answered one question correctly."""

    prompt: str
    subject: str
    small: bool
    large: bool

    def correct(self, role: Role) -> bool:
        return self.small if role == "small" else self.large


class BookError(ValueError):
    """A data file that cannot be read or a malformed row (file and line given)."""


def _flag(raw: object, where: str) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float):
        return float(raw) >= 0.5
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    try:
        return float(text) >= 0.5
    except ValueError:
        raise BookError(f"{where}: not a correctness value: {raw!r}") from None


def _csv_rows(path: Path) -> Iterator[Outcome]:
    """RouteLLM CSV: ``prompt,<small model>,<large model>`` with True/False cells."""
    subject = path.stem.removeprefix("mmlu_")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or len(header) < 3:
            raise BookError(f"{path}: expected a header prompt,<small>,<large>")
        for number, row in enumerate(reader, start=2):
            if len(row) < 3:
                raise BookError(f"{path}:{number}: expected 3 columns, got {len(row)}")
            where = f"{path}:{number}"
            yield Outcome(prompt_key(row[0]), subject, _flag(row[1], where), _flag(row[2], where))


def _jsonl_rows(path: Path) -> Iterator[Outcome]:
    """JSONL: ``{"prompt", "small", "large"}`` per line, qualities in [0, 1]."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                raw = json.loads(line)
                prompt = str(raw["prompt"])
                small, large = _flag(raw["small"], where), _flag(raw["large"], where)
            except (ValueError, KeyError, TypeError) as exc:
                raise BookError(f"{where}: {exc}") from exc
            yield Outcome(prompt_key(prompt), str(raw.get("group", path.stem)), small, large)


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in (".csv", ".jsonl"))
        elif path.is_file():
            yield path
        else:
            raise BookError(f"no data at {path}")


class ReplayBook:
    """Every recorded question, looked up by its text."""

    def __init__(self, outcomes: Iterable[Outcome]) -> None:
        self._outcomes: dict[str, Outcome] = {o.prompt: o for o in outcomes}

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> ReplayBook:
        """Load RouteLLM CSV or JSONL files (folders: every such file in them)."""
        outcomes: list[Outcome] = []
        for path in _files(paths):
            rows = _csv_rows(path) if path.suffix == ".csv" else _jsonl_rows(path)
            try:
                outcomes.extend(rows)
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise BookError(f"{path}: {exc}") from exc
        if not outcomes:
            raise BookError("no recorded question in " + ", ".join(str(p) for p in paths))
        return cls(outcomes)

    def __len__(self) -> int:
        return len(self._outcomes)

    def get(self, prompt: str) -> Outcome | None:
        return self._outcomes.get(prompt_key(prompt))

    def outcomes(self) -> list[Outcome]:
        """Every question, in the order the files list them."""
        return list(self._outcomes.values())

    def answer(
        self,
        role: Role,
        prompt: str,
        *,
        disagree: bool = False,
        logprobs: LogprobRanges = OVERLAPPING,
    ) -> tuple[str, float]:
        """The replayed answer of ``role`` and its synthetic mean logprob (in ``logprobs``).

        ``disagree`` plays a bad student: it names a wrong option on every question (so
        it never agrees with a correct large model), with the logprob of a right answer
        (a confident wrong model, the case a canary must catch)."""
        outcome = self.get(prompt)
        if outcome is None:
            return UNKNOWN_ANSWER, UNKNOWN_LOGPROB
        if disagree:
            return answer_text(prompt, False), mean_logprob(prompt, True, logprobs)
        correct = outcome.correct(role)
        return answer_text(prompt, correct), mean_logprob(prompt, correct, logprobs)
