"""Cheap text features of a prompt: length, structure, math, code, multi-step wording.

Deliberately generic (no benchmark-specific cues such as answer-option letters): the
learned scorer must carry over to traffic it was not trained on. Pure Python + numpy,
a few microseconds per prompt.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_MATH = re.compile(r"[=+^*/<>±\u00d7÷√∫∑π≤≥≠]|\\frac|\\sqrt|\$")
_CODE_MARKS = ("```", "def ", "class ", "return ", "==", "!=", "->", "print(", "printf(")
_MULTI_STEP = frozenset(
    [
        "calculate",
        "compute",
        "determine",
        "derive",
        "prove",
        "solve",
        "estimate",
        "step",
        "steps",
        "then",
        "after",
        "if",
    ]
)
_QUANTITY = frozenset(("many", "much"))
_NEGATION = frozenset(["not", "except", "false", "least", "never", "incorrect", "none"])
_REASONING = frozenset(
    ["why", "explain", "because", "therefore", "implies", "assume", "suppose", "given"]
)
_QUOTE = re.compile(r"[\"“”]")

FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "mean_word_length",
    "long_word_share",
    "digit_share",
    "upper_share",
    "punct_share",
    "log_numbers",
    "log_math_symbols",
    "log_code_marks",
    "log_multi_step_words",
    "log_negations",
    "log_reasoning_words",
    "log_questions",
    "log_quotes",
    "log_longest_line",
)


def _char_classes(prompt: str) -> tuple[int, int, int]:
    """Counts of ASCII digits, ASCII capitals and punctuation (neither a letter, a digit,
    whitespace nor non-ASCII), vectorised over code points."""
    codes = np.frombuffer(prompt.encode("utf-32-le"), dtype=np.uint32)
    digit = (codes >= 48) & (codes <= 57)
    upper = (codes >= 65) & (codes <= 90)
    lower = (codes >= 97) & (codes <= 122)
    space = (codes == 32) | ((codes >= 9) & (codes <= 13))
    other = ~(digit | upper | lower | space | (codes > 127))
    return int(digit.sum()), int(upper.sum()), int(other.sum())


def text_features(prompt: str) -> npt.NDArray[np.float32]:
    """The :data:`FEATURE_NAMES` of a prompt, in that order."""
    chars = max(len(prompt), 1)
    words = _WORD.findall(prompt)
    n_words = max(len(words), 1)
    lines = prompt.splitlines() or [prompt]
    digits, uppers, puncts = _char_classes(prompt)
    word_chars = sum(len(w) for w in words)
    long_words = sum(len(w) >= 9 for w in words)
    lower = [w.lower() for w in words]
    multi_step = sum(w in _MULTI_STEP for w in lower) + sum(
        a == "how" and b in _QUANTITY for a, b in itertools.pairwise(lower)
    )
    code = sum(prompt.count(mark) for mark in _CODE_MARKS) + sum(
        line.rstrip().endswith(("{", "}", ";")) for line in lines
    )
    values = (
        math.log1p(len(prompt)),
        math.log1p(len(words)),
        math.log1p(len(lines)),
        word_chars / n_words,
        long_words / n_words,
        digits / chars,
        uppers / chars,
        puncts / chars,
        math.log1p(len(_NUMBER.findall(prompt))),
        math.log1p(len(_MATH.findall(prompt))),
        math.log1p(code),
        math.log1p(multi_step),
        math.log1p(sum(w in _NEGATION for w in lower)),
        math.log1p(sum(w in _REASONING for w in lower)),
        math.log1p(prompt.count("?")),
        math.log1p(len(_QUOTE.findall(prompt))),
        math.log1p(max(len(line) for line in lines)),
    )
    return np.asarray(values, dtype=np.float32)
