"""Does a prompt look like the learned default's training data?

The shipped learned scorer was trained on exam questions only (MMLU and MMLU-Pro: a
question, often a short problem, and its lettered answer options; one user turn). On
those it ranks better than the structural heuristic out of source; on chat, code and
instruction-style requests it has seen nothing and scores them all alike (see
docs/routing-quality.md, "The default scorer: auto"). :func:`in_domain` is the gate the
``auto`` scorer uses to choose between the two. A prompt is in the learned model's domain
when it is one user turn and either

- carries **answer options**: two or more lines (or parenthesised marks) ``A.``/``(A)``,
  ``B.``/``(B)``... in order from A: every training prompt has them; or
- is an **open exam-style problem**: a question stem without options, like a word
  problem: at least ``MIN_QUESTION_WORDS`` words and at most ``MAX_QUESTION_CHARS``
  characters, ending with a question mark, with a number in it, no code (a backtick or
  the heuristic's own code marks), no first person (``I``, ``my``, ``me``: someone
  asking about their own situation) and not opening with a request (``write``,
  ``explain``, ``can you``...).

Everything else (chat with history, code, instructions, requests to write, questions
about one's own situation, short conversational questions) is out of the domain. These
rules describe the training data's form; they were written knowing issue 11's held-out
table and the chat prompts of ``tests/unit/data/chat_prompts/``, not fitted to labels.
Pure and cheap: two regular expressions and substring checks, no model.
"""

from __future__ import annotations

import re

from hybridroute_router.decision.features import text_features

MIN_QUESTION_WORDS = 15
MAX_QUESTION_CHARS = 2000
SCAN_CHARS = 8192
"""Answer options are looked for in the first and last 4 KiB of longer prompts."""

_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])[.):](?=\s)", re.MULTILINE)
_OPTION_MARK = re.compile(r"\(([A-J])\)\s")
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|my|me|mine)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d")
_REQUEST_OPENERS = frozenset(
    [
        # imperatives of chat and instruction traffic
        "act", "analyze", "analyse", "brainstorm", "build", "compose", "convert", "create",
        "debug", "describe", "design", "develop", "draft", "edit", "explain", "fix",
        "generate", "give", "help", "imagine", "implement", "list", "make", "outline",
        "paraphrase", "plan", "please", "pretend", "provide", "recommend", "refactor",
        "rewrite", "show", "suggest", "summarize", "summarise", "tell", "translate",
        "write",
        # polite or first-person requests
        "can", "could", "would", "will", "i", "i'm", "i'd", "let's", "we", "my",
    ]
)  # fmt: skip
_FIRST_WORD = re.compile(r"[A-Za-z']+")


def _letters_in_order(letters: list[str]) -> bool:
    """An ``A`` followed later by a ``B``: the start of an option list."""
    try:
        first = letters.index("A")
    except ValueError:
        return False
    return "B" in letters[first + 1 :]


def has_options(prompt: str) -> bool:
    """Two or more lettered answer options starting at A (``A.``, ``A)``, ``(A)``)."""
    text = prompt if len(prompt) <= SCAN_CHARS else prompt[:4096] + "\n" + prompt[-4096:]
    lines = [m.group(1) for m in _OPTION_LINE.finditer(text)]
    if _letters_in_order(lines):
        return True
    return _letters_in_order([m.group(1) for m in _OPTION_MARK.finditer(text)])


def _opens_with_request(text: str) -> bool:
    match = _FIRST_WORD.search(text[:64])
    return match is not None and match.group(0).lower() in _REQUEST_OPENERS


def open_question(prompt: str) -> bool:
    """An exam-style problem without options (see the module docstring)."""
    text = prompt.strip()
    if not text or len(text) > MAX_QUESTION_CHARS or not text.endswith("?"):
        return False
    if len(text.split()) < MIN_QUESTION_WORDS or _NUMBER.search(text) is None:
        return False
    if "`" in text or _FIRST_PERSON.search(text) or _opens_with_request(text):
        return False
    return not text_features(text).has_code


def in_domain(prompt: str, depth: int = 1) -> bool:
    """The learned default's domain: one user turn with answer options, or an open
    exam-style question (see the module docstring)."""
    if depth > 1:
        return False
    return has_options(prompt) or open_question(prompt)
