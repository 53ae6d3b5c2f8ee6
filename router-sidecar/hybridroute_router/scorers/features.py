"""Cheap text features of a prompt: length, structure, math, code, multi-step wording.

Deliberately generic (no benchmark-specific cues such as answer-option letters): the
learned scorer must carry over to traffic it was not trained on. Pure Python + numpy,
a few microseconds per prompt.
"""

from __future__ import annotations

import math
import re

import numpy as np
import numpy.typing as npt

_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_MATH = re.compile(r"[=+^*/<>±\u00d7÷√∫∑π≤≥≠]|\\frac|\\sqrt|\$")
_CODE = re.compile(r"```|\bdef |\bclass |\breturn\b|[{};]\s*$|==|!=|->|\bint\b|\bprintf?\(", re.M)
_MULTI_STEP = re.compile(
    r"\b(calculate|compute|how many|how much|determine|derive|prove|solve|estimate|"
    r"what is the (?:value|probability|maximum|minimum)|step|then|after|if)\b",
    re.I,
)
_NEGATION = re.compile(r"\b(not|except|false|least|never|incorrect|none)\b", re.I)
_REASONING = re.compile(r"\b(why|explain|because|therefore|implies|assume|suppose|given)\b", re.I)
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


def text_features(prompt: str) -> npt.NDArray[np.float32]:
    """The :data:`FEATURE_NAMES` of a prompt, in that order."""
    chars = max(len(prompt), 1)
    words = _WORD.findall(prompt)
    n_words = max(len(words), 1)
    lines = prompt.splitlines() or [prompt]
    digits = sum(c.isdigit() for c in prompt)
    uppers = sum(c.isupper() for c in prompt)
    puncts = sum((not c.isalnum()) and (not c.isspace()) for c in prompt)
    word_chars = sum(len(w) for w in words)
    long_words = sum(len(w) >= 9 for w in words)
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
        math.log1p(len(_CODE.findall(prompt))),
        math.log1p(len(_MULTI_STEP.findall(prompt))),
        math.log1p(len(_NEGATION.findall(prompt))),
        math.log1p(len(_REASONING.findall(prompt))),
        math.log1p(prompt.count("?")),
        math.log1p(len(_QUOTE.findall(prompt))),
        math.log1p(max(len(line) for line in lines)),
    )
    return np.asarray(values, dtype=np.float32)
