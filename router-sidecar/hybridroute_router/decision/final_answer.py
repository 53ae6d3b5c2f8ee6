"""The final answer an answer states, read with regular expressions (pure, no model).

Evaluation harnesses compare the extracted final answer of two outputs, not their
wording (lm-evaluation-harness's GSM8K ``#### N`` and MMLU-Pro ``answer is (X)`` filters,
OpenAI simple-evals' ``Answer: X``, the MATH harness's last ``\\boxed{}``).
:func:`final_answer` does the same for the ``final-answer`` shadow comparator. The
first of these readers that finds something wins:

1. an **answer phrase** naming a letter, the first one in the text (as those harnesses
   read it: chat models often go on after their answer, restating or inventing more):
   ``answer`` or ``correct``/``right``/``best``/``final`` + ``option``/``choice`` (any
   case), then ``is``, ``:`` or ``is:``, then an option letter ``A`` to ``J`` (upper
   case; bare or as ``(B)``, ``**B**``, ``$B$``, or ``(B`` ending the text, cut off):
   ``The answer is (B).``, ``Answer: B``, ``Final answer: **J**``, ``The correct option
   is (I).`` A bare ``A`` or ``I`` followed by a lower-case word is English (``the
   answer is a bit unclear``), not a letter;
2. an **answer phrase** naming a number, the first: ``The answer is 42.0.``;
3. the **last** ``\\boxed{...}`` (braces may nest): a letter (any case, also
   ``\\text{(c)}``), a number, or else its text without spaces or ``$``;
4. GSM8K's answer line ``#### 42``, the first;
5. a **bold letter**, the first: ``**B**``, ``**(B)**``, ``**B)**``, ``**B.**``;
6. a **leading option**: the answer starts with ``B``, ``B.``, ``B)``, ``(B)``, ``B:``
   or ``**B**`` (a bare ``B`` only as the whole answer): ``B) 42 because ...``;
7. a **final number**: the answer ends with a number (trailing ``.``, ``!``, ``*``,
   ``)``, ``$``, ``%`` and spaces ignored) that does not follow a ``,``, ``.`` or a
   word character: ``So the total is $1,234.``, ``42``.

Numbers: an optional sign, ``$``, thousands separators (``1,234``, LaTeX ``1{,}234``),
decimals and exponents (``4.2e1``); compared as decimals, so ``42``, ``42.0`` and
``4.2e1`` are equal. Letters are compared in upper case.

Not recognised (the comparator falls back to token overlap): lower-case option letters
outside ``\\boxed``, options named by their text, fractions other than inside
``\\boxed`` (compared as text there), units (``42 apples.`` has no final number,
``The answer is 3.5km`` none either), ratios (``2:3``).
Several options in one answer (``The answer is (B, C).``) are no final answer. Known
misreadings: a text starting with an initial (``A. Lincoln ...``) reads as option A;
``the answer is A good ...`` is not read as a letter (see above); a model that corrects
itself after an answer phrase is read by its first answer; a free-form answer ending
with a number (a year) is judged by that number.

Cost is linear in the answer's length (possessive quantifiers where spaces could be
backtracked over, one pass over the braces, the final number looked for in the last 64
characters): shadow answers are model output of any length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

Kind = Literal["letter", "number", "text"]

_NUMBER = r"[-+\u2212]?\$?(?:(?:\d{1,3}(?:(?:,|\{,\})\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_ALONE = re.compile(rf"({_NUMBER})%?")
# Possessive quantifiers (*+) where a pattern could otherwise backtrack over a long run
# of spaces: answers are model output, some are long.
# the letter: wrapped in (), ** or $, or bare (then not a word's first letter)
_LETTER = (
    r"(?:\(\s*+(?P<p>[A-J])\s*+(?:\)|\Z)|\*\*\(?(?P<b>[A-J])\)?[.)]?\*\*|\$(?P<d>[A-J])\$"
    r"|(?P<l>[A-J])(?![\w'\u2019]))"
)
_PHRASE = (
    r"(?i:\b(?:answer|(?:correct|right|best|final)\s++(?:option|choice))\s*+(?:is\s*+:?+|:))"
    r"\s*+(?:\*\*\s*+)?+"
)
_PHRASE_LETTER = re.compile(_PHRASE + _LETTER)
# a number read whole or not at all: the atomic group keeps "12.5cm" from being read
# as 12 and "1/2" as 1 (units, fractions and ratios are not final numbers)
_WHOLE_NUMBER = rf"(?>{_NUMBER})(?![\w/:]|[.,]\d)"
_PHRASE_NUMBER = re.compile(_PHRASE + rf"(?P<n>{_WHOLE_NUMBER})")
_BOLD_LETTER = re.compile(r"\*\*\(?([A-J])\)?[.)]?\*\*")
_GSM8K = re.compile(rf"####\s*+({_WHOLE_NUMBER})")
_BOXED = re.compile(r"\\boxed\s*+\{")
_BRACE = re.compile(r"[{}]")
_LEADING = re.compile(
    r"\s*+(?:\*\*)?(?:\(([A-J])\)|([A-J])(?:[.):]|\*\*|(?=\s*+$)))(?:\*\*)?(?=\s|$)"
)
# a number ending the text, searched for in its last characters only
_TRAILING = re.compile(rf"(?<![\w.,}}/:])({_NUMBER})\Z")
_TRAILING_WINDOW = 64
_AFTER_FINAL_NUMBER = " \t\r\n.!*)$%"
_UNWRAP_PASSES = 3
_ENGLISH_AFTER = re.compile(r"\s+[a-z]")
_TEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\s*+\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """What an answer settles on: an option letter, a number or (boxed) text."""

    kind: Kind
    value: str | Decimal

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_number(text: str) -> Decimal | None:
    """A number as a decimal (``None`` when ``text`` is not one number)."""
    cleaned = text.strip().replace("{,}", "").replace(",", "").replace("$", "")
    cleaned = cleaned.replace("\u2212", "-").removesuffix("%").strip()
    if not cleaned or not any(c.isdigit() for c in cleaned):
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _number(text: str) -> FinalAnswer | None:
    value = parse_number(text)
    return None if value is None else FinalAnswer("number", value)


def _closing_braces(text: str) -> dict[int, int]:
    """For each ``{`` that is closed: the index after it -> the index of its ``}``
    (one pass over the braces, so many unclosed ones cost no more than one)."""
    closing: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE.finditer(text):
        if m.group() == "{":
            stack.append(m.end())
        elif stack:
            closing[stack.pop()] = m.start()
    return closing


def _from_boxed(content: str) -> FinalAnswer | None:
    inner = content
    for _ in range(_UNWRAP_PASSES):
        unwrapped = _TEX_WRAP.sub(r"\1", inner)
        if unwrapped == inner:
            break
        inner = unwrapped
    inner = inner.replace("$", "").strip()
    letter = re.fullmatch(r"\(?([A-Ja-j])\)?\.?", inner)
    if letter:
        return FinalAnswer("letter", letter.group(1).upper())
    if _NUMBER_ALONE.fullmatch(inner):
        found = _number(inner)
        if found is not None:
            return found
    squeezed = "".join(inner.split())
    return FinalAnswer("text", squeezed) if squeezed else None


def _last_boxed(text: str) -> tuple[int, FinalAnswer] | None:
    """The ``\\boxed{...}`` that closes last and says something, with where it ends."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    closing = _closing_braces(text)
    for end, start in sorted(((closing[s], s) for s in starts if s in closing), reverse=True):
        boxed = _from_boxed(text[start:end])
        if boxed is not None:
            return end + 1, boxed
    return None


def _trailing_number(text: str) -> FinalAnswer | None:
    """The number the text ends with (``.``, ``!``, ``*``, ``)``, ``$``, ``%`` after it
    ignored), looked for in the last characters only."""
    end = len(text.rstrip(_AFTER_FINAL_NUMBER))
    start = max(0, end - _TRAILING_WINDOW)
    found = _TRAILING.search(text[start:end])
    if found is None or (start > 0 and found.start() == 0):
        return None  # a number longer than the window, cut: not read
    return _number(found.group(1))


def _phrase_letter(text: str) -> FinalAnswer | None:
    for m in _PHRASE_LETTER.finditer(text):
        bare = m.group("l")
        if bare in ("A", "I") and _ENGLISH_AFTER.match(text, m.end()):
            continue  # English: "the answer is a ...", "the answer is I think ..."
        return FinalAnswer("letter", m.group("p") or m.group("b") or m.group("d") or bare)
    return None


def _phrase_number(text: str) -> FinalAnswer | None:
    for m in _PHRASE_NUMBER.finditer(text):
        number = _number(m.group("n"))
        if number is not None:
            return number
    return None


def _gsm8k(text: str) -> FinalAnswer | None:
    m = _GSM8K.search(text)
    return None if m is None else _number(m.group(1))


def _bold_letter(text: str) -> FinalAnswer | None:
    m = _BOLD_LETTER.search(text)
    return None if m is None else FinalAnswer("letter", m.group(1))


def _boxed(text: str) -> FinalAnswer | None:
    found = _last_boxed(text)
    return None if found is None else found[1]


def _leading(text: str) -> FinalAnswer | None:
    m = _LEADING.match(text)
    return None if m is None else FinalAnswer("letter", m.group(1) or m.group(2))


_READERS = (
    _phrase_letter,
    _phrase_number,
    _boxed,
    _gsm8k,
    _bold_letter,
    _leading,
    _trailing_number,
)


def final_answer(text: str) -> FinalAnswer | None:
    """The final answer ``text`` states, or ``None`` when it states none we recognise."""
    for read in _READERS:
        found = read(text)
        if found is not None:
            return found
    return None
