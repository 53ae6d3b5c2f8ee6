"""The final-answer shadow comparator: what it extracts, how it scores pairs, and that it
judges the replayed answers to the shared MMLU and MMLU-Pro questions as their recorded
outcomes say (pure)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hybridroute_localstack.replay.behaviour import DEFAULT_RATIONALE_WORDS, rationale
from hybridroute_localstack.replaybook import ReplayBook, answer_letter, default_data_dir
from hybridroute_operator.api import parse_spec
from hybridroute_operator.observed import LARGE, EndpointHealth, Observed, small_target
from hybridroute_operator.render import RouteRef, build_policy
from hybridroute_operator.render.policy import build_policy_configmap
from hybridroute_policy import parse_policy
from hybridroute_router.decision.compare import FinalAnswerMatch, TokenOverlap, make_comparator
from hybridroute_router.decision.final_answer import FinalAnswer, final_answer, parse_number
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

pytestmark = pytest.mark.unit

LETTERS = [
    ("The answer is B.", "B"),
    ("the answer is (C)", "C"),
    ("Answer: D", "D"),
    ("ANSWER: $A$", "A"),
    ("Final answer: **J**", "J"),
    ("The correct option is (I).", "I"),
    ("The answer is: E because the others are wrong", "E"),
    ("B", "B"),
    ("B.", "B"),
    ("B) 42 because the force doubles", "B"),
    ("(C) Jupiter", "C"),
    ("**D**", "D"),
    ("**(A)** Mars is too small", "A"),
    ("Option A is wrong and B is close, so **C**", "C"),
    ("I think it is \\boxed{B}", "B"),
    ("$\\boxed{\\text{(c)}}$", "C"),
    # the first answer phrase wins, as in the harnesses: chat models go on after it
    ("The answer is (E).\n\nFinal Answer: The answer is (F).", "E"),
    ("The answer is (D). Question: which ... Answer: let's think. The answer is (A).", "D"),
    # an answer phrase wins over options listed in bold or named in passing
    ("**A** is too small, **C** too big. The answer is (B).", "B"),
    ("The closest option is (E) $162.75. The answer is (F).", "F"),
    # MMLU-Pro's 5-shot chain-of-thought form (its extractor: `answer is \(?([A-J])\)?`)
    (
        "A: Let's think step by step. The call is out of the money at 14 > 12, "
        "so its value is small. The answer is (H).",
        "H",
    ),
    # an answer cut off after its parenthesis (max_tokens), real in MMLU-Pro's outputs
    ("we find that m = 13.0 grams. The answer is (A", "A"),
    # OpenAI simple-evals' MMLU form (its extractor: `Answer\s*:\s*\$?([A-D])\$?`)
    ("Jupiter has the largest mass of the four.\n\nAnswer: B", "B"),
    # the replay servers' answers, the large one with its rationale
    ("The answer is G.", "G"),
    ("The answer is I. Having weighed each listed option, I settle on I.", "I"),
]

NUMBERS = [
    ("#### 42", "42"),
    ("She pays 3 x 14 = 42 dollars.\n#### 42", "42"),
    ("#### 1,234", "1234"),
    ("so x = \\boxed{4.2e1}.", "42"),
    ("\\boxed{1{,}000}", "1000"),
    ("The answer is 42.0.", "42"),
    ("Answer: -3.5", "-3.5"),
    ("So the total is $1,234.", "1234"),
    ("42", "42"),
    ("The result is 12%.", "12"),
    ("answer is 7, not the 8 of the final answer: 8", "7"),
    ("\\boxed{7} at first, then \\boxed{8}", "8"),  # the last box, as the MATH harness
]

NO_FINAL_ANSWER = [
    "I have no recorded answer to this question.",  # the replay's unknown prompt
    "A bird in the hand is worth two in the bush",  # "A" as an article
    "The answer is a bit unclear to me.",  # lower case: English, not an option
    "The answer is A good question needs context",  # bare A before a lower-case word
    "Answer: Jupiter",  # an option named by its text
    "There are 42 apples.",  # a number followed by a unit is no final number
    "The answer is (B, C).",  # several options
    "The put option is:\n\nC = S0 N(d1)",  # "option is" without correct/best/final
    "",
]


@pytest.mark.parametrize(("text", "letter"), LETTERS)
def test_an_option_letter_is_read_in_its_common_forms(text: str, letter: str) -> None:
    assert final_answer(text) == FinalAnswer("letter", letter)


@pytest.mark.parametrize(("text", "number"), NUMBERS)
def test_a_number_is_read_and_normalised(text: str, number: str) -> None:
    found = final_answer(text)
    assert found is not None
    assert found.kind == "number"
    assert found.value == Decimal(number)


@pytest.mark.parametrize("text", NO_FINAL_ANSWER)
def test_text_without_a_recognised_final_answer_has_none(text: str) -> None:
    assert final_answer(text) is None


def test_boxed_text_that_is_no_letter_or_number_is_compared_as_text() -> None:
    assert final_answer("so \\boxed{\\frac{3}{4}}") == FinalAnswer("text", "\\frac{3}{4}")
    assert final_answer("\\boxed{x^2 + 1}") == final_answer("\\boxed{x^2+1}")


@pytest.mark.parametrize(
    ("text", "value"),
    [("42", "42"), ("42.0", "42"), ("4.2e1", "42"), ("1,234,567", "1234567"), ("\u22125", "-5")],
)
def test_numbers_compare_as_decimals(text: str, value: str) -> None:
    assert parse_number(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "abc", "1e", "--5", "inf", "NaN"])
def test_what_is_not_one_number_parses_to_none(text: str) -> None:
    assert parse_number(text) is None


PAIRS = [
    # same final answer, different wording: agreement
    ("The answer is B.", "B) 42 because the force doubles", 1.0),
    ("Answer: B", "**B**", 1.0),
    ("The answer is C.", "The answer is C. Having weighed each listed option, I settle on C.", 1.0),
    ("#### 42", "Adding them up gives 42.0", 1.0),
    ("\\boxed{4.2e1}", "The answer is 42.", 1.0),
    ("#### 1,000", "so 1000", 1.0),
    # different final answers with much shared wording: disagreement
    ("The answer is B.", "The answer is C.", 0.0),
    (
        "The answer is B. Having weighed each option.",
        "The answer is D. Having weighed each option.",
        0.0,
    ),
    ("#### 42", "#### 43", 0.0),
]


@pytest.mark.parametrize(("a", "b", "expected"), PAIRS)
def test_pairs_with_final_answers_score_one_or_zero(a: str, b: str, expected: float) -> None:
    comparator = make_comparator("final-answer")
    assert comparator.name == "final-answer"
    assert comparator.similarity(a, b) == expected
    assert comparator.similarity(b, a) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Paris is the capital of France.", "The capital of France is Paris, of course."),
        ("The answer is B.", "I have no recorded answer to this question."),
        ("The answer is B.", "The answer is 42."),  # a letter against a number
        ("", ""),
    ],
)
def test_without_a_final_answer_on_both_sides_it_is_token_overlap(a: str, b: str) -> None:
    assert FinalAnswerMatch().similarity(a, b) == TokenOverlap().similarity(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [  # a number is read whole or not at all: never a prefix of a quantity, a fraction
        ("The answer is 3.5km", "The answer is 3.9km"),
        ("The answer is 0.25mg.", "The answer is 0.75mg."),
        ("The answer is 1/2", "The answer is 1/3"),
        ("The answer is 2:3", "The answer is 2:5"),
        ("#### 3/4", "#### 3/5"),
        ("The total is 3/4", "The total is 1/4"),
        ("The answer is 1,234,567th", "The answer is 1,234,568th"),
    ],
)
def test_part_of_a_number_is_never_read_as_the_final_answer(a: str, b: str) -> None:
    assert final_answer(a) is None or final_answer(a) != final_answer(b)
    assert FinalAnswerMatch().similarity(a, b) < 1.0


@settings(max_examples=200, deadline=None)
@given(a=st.text(alphabet="AB(C)*.:42 answerisboxed{}#\\\n", max_size=60), b=st.text(max_size=60))
def test_final_answer_is_symmetric_bounded_and_reflexive(a: str, b: str) -> None:
    comparator = FinalAnswerMatch()
    s = comparator.similarity(a, b)
    assert 0.0 <= s <= 1.0
    assert s == comparator.similarity(b, a)
    assert comparator.similarity(a, a) == 1.0


@pytest.fixture(scope="module")
def book() -> ReplayBook:
    data = default_data_dir()
    if not data.is_dir():
        pytest.skip(f"the shared RouteLLM data is not at {data.resolve()}")
    return ReplayBook.from_paths([data])


def test_replayed_mmlu_answers_agree_exactly_when_the_recorded_outcomes_say(
    book: ReplayBook,
) -> None:
    """Every shared MMLU question as the replay servers answer it (the small model in one
    sentence, the large one with its rationale). Where the record decides it (at least
    one model right: both right is the same letter, one right is different letters),
    final-answer agreement at the default threshold 0.6 equals the record's;
    token-overlap at 0.6 calls every pair a disagreement."""
    final, overlap = FinalAnswerMatch(), TokenOverlap()
    decided = agreed = overlap_agreed = 0
    for outcome in book.outcomes():
        prompt = outcome.prompt
        small, _ = book.answer("small", prompt)
        large, _ = book.answer("large", prompt)
        large += rationale(answer_letter(prompt, outcome.large), DEFAULT_RATIONALE_WORDS["large"])
        agree = final.similarity(small, large) >= 0.6
        if outcome.small or outcome.large:
            decided += 1
            assert agree == (outcome.small and outcome.large), (small, large)
        agreed += agree
        overlap_agreed += overlap.similarity(small, large) >= 0.6
    assert decided > 0.85 * len(book)
    both_right = sum(o.small and o.large for o in book.outcomes())
    both_wrong = sum(not o.small and not o.large for o in book.outcomes())
    # both wrong: the replay names the option after the key for either model
    assert agreed == both_right + both_wrong
    assert overlap_agreed == 0


def _mmlu_pro() -> Path:
    return default_data_dir().parents[1] / "routing-train" / "mmlu-pro"


def test_mmlu_pro_answers_in_two_styles_agree_when_the_pairs_outcomes_say() -> None:
    """MMLU-Pro's questions (options A to J) for each of its seven small/large pairs: the
    small model answers in simple-evals' form, the large one in MMLU-Pro's chain-of-thought
    form, naming the stand-in key when the record has it right and another option when
    wrong. Where the record decides it, agreement equals the record's."""
    folder = _mmlu_pro()
    if not folder.is_dir():
        pytest.skip(f"the shared MMLU-Pro data is not at {folder.resolve()}")
    pairs = json.loads((folder / "pairs.json").read_text(encoding="utf-8"))
    lines = (folder / "outcomes.jsonl").read_text(encoding="utf-8").splitlines()
    comparator = FinalAnswerMatch()
    decided = 0
    for line in lines[::10]:
        row = json.loads(line)
        prompt, correct = row["prompt"], row["correct"]
        for pair in pairs:
            s_right, l_right = bool(correct[pair["small"]]), bool(correct[pair["large"]])
            small = f"Answer: {answer_letter(prompt, s_right)}"
            large = (
                "A: Let's think step by step. We check each option against the data given "
                f"in the question. The answer is ({answer_letter(prompt, l_right)})."
            )
            if s_right or l_right:
                decided += 1
                agree = comparator.similarity(small, large) >= 0.6
                assert agree == (s_right and l_right), (small, large)
    assert decided > 1000


def _old_policy_models() -> ModuleType:
    """The policy models of a router from before final-answer (commit cff38be)."""
    name = "policy_models_cff38be"
    if name not in sys.modules:
        path = Path(__file__).parent / "snapshots" / "policy_models_cff38be.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # pydantic resolves the annotations through it
        spec.loader.exec_module(module)
    return sys.modules[name]


def _rendered_shadow(shadow: dict[str, object]) -> dict[str, object]:
    """The ``policy.yaml`` the operator writes for a route with this ``policy.shadow``."""
    spec = {
        "large": {"model": "big", "endpoint": {"selector": {"app": "big"}, "port": 8000}},
        "small": {
            "model": "student",
            "versions": [{"name": "v1", "endpoint": {"selector": {"app": "s"}, "port": 8000}}],
        },
        "policy": {"shadow": shadow},
    }
    route = RouteRef(name="r", namespace="ns", uid="u", generation=1)
    ready = Observed(
        endpoints={LARGE: EndpointHealth(1, 1), small_target("v1"): EndpointHealth(1, 1)}
    )
    cm = build_policy_configmap(route, build_policy(route, parse_spec(spec), ready))
    doc: dict[str, object] = yaml.safe_load(cm["data"]["policy.yaml"])
    return doc


def test_a_route_that_does_not_choose_a_comparator_is_judged_alike_by_old_and_new_routers() -> None:
    """The default stays token-overlap: the operator leaves it out of the policy, and an
    older router fills in its own default, which must be the same."""
    doc = _rendered_shadow({"percent": 5})
    assert doc["shadow"] == {"percent": 5.0}
    old = _old_policy_models().Policy.model_validate(doc)
    assert old.shadow.comparator == parse_policy(yaml.safe_dump(doc)).shadow.comparator
    assert make_comparator(old.shadow.comparator).name == "token-overlap"


def test_final_answer_is_rendered_and_needs_a_router_that_knows_it() -> None:
    doc = _rendered_shadow({"percent": 5, "comparator": "final-answer"})
    assert parse_policy(yaml.safe_dump(doc)).shadow.comparator == "final-answer"
    with pytest.raises(ValidationError, match="comparator"):
        _old_policy_models().Policy.model_validate(doc)


@pytest.mark.parametrize(
    "text",
    [
        "The answer is" + " " * 50_000 + "x",  # spaces an answer phrase could backtrack over
        "\\boxed{" * 20_000,  # unclosed boxes
        "\\boxed{" + "\\text{" * 5_000 + "B" + "}" * 5_001,  # deep nesting
        "1" + ",000" * 20_000 + "x",  # thousands groups a final number could retry
        "answer is " * 20_000,
    ],
    ids=["spaces", "unclosed", "nested", "groups", "phrases"],
)
def test_long_adversarial_answers_are_read_without_backtracking_blowup(text: str) -> None:
    """Shadow answers are model output of any length. With the first patterns these were
    quadratic or worse (the spaces: over 10 s at 1,000 of them; unclosed boxes: 3.7 s at
    4,000); no time is asserted here, a regression runs into the test timeout."""
    comparator = FinalAnswerMatch()
    assert 0.0 <= comparator.similarity(text, "The answer is B.") <= 1.0


MMLU_PRO_ANSWERS = Path(__file__).parent / "data" / "mmlu_pro_answers" / "pairs.jsonl"
# MMLU-Pro's own extractor (its first two patterns), with a word boundary after the letter:
# where it finds the recorded letter, the record is the text's own choice (else `pred` is
# a random guess, or a misread such as "(Insufficient information)" read as I)
_ANSWER_IS = re.compile(r"answer is \(?([A-J])\)?(?!\w)")
_ANSWER_COLON = re.compile(r"[aA]nswer:\s*([A-J])(?!\w)")


def _real_pairs() -> list[dict[str, Any]]:
    lines = MMLU_PRO_ANSWERS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _mmlu_pro_choice(text: str) -> str | None:
    """The first ``answer is (X)``, else the last ``Answer: X`` on the first line holding
    one (what MMLU-Pro's ``.*[aA]nswer:\\s*([A-J])`` finds)."""
    found = _ANSWER_IS.search(text)
    if found is not None:
        return found.group(1)
    colons = list(_ANSWER_COLON.finditer(text))
    if not colons:
        return None
    line_end = text.find("\n", colons[0].start())
    line_end = len(text) if line_end < 0 else line_end
    return [m for m in colons if m.start() < line_end][-1].group(1)


def _recorded_choice(side: dict[str, Any]) -> str | None:
    found = _mmlu_pro_choice(side["text"])
    return side["pred"] if found is not None and found == side["pred"] else None


def test_real_answers_are_read_as_mmlu_pro_recorded_them() -> None:
    """Real chain-of-thought answers of seven models: wherever the record holds the
    text's own choice, final_answer reads that letter."""
    checked = 0
    for row in _real_pairs():
        for side in (row["small"], row["large"]):
            choice = _recorded_choice(side)
            if choice is not None:
                checked += 1
                assert final_answer(side["text"]) == FinalAnswer("letter", choice), side
    assert checked >= 100


def test_real_answer_pairs_agree_exactly_when_their_recorded_choices_do() -> None:
    """The same question answered by a small and a large model: at the default threshold
    final-answer agrees exactly when the recorded choices are equal; token-overlap
    misjudges many of the same pairs (long reasoning shares words whatever the choice)."""
    final, overlap = FinalAnswerMatch(), TokenOverlap()
    decided = overlap_wrong = 0
    for row in _real_pairs():
        small, large = row["small"], row["large"]
        s_choice, l_choice = _recorded_choice(small), _recorded_choice(large)
        if s_choice is None or l_choice is None:
            continue
        decided += 1
        same = s_choice == l_choice
        assert (final.similarity(small["text"], large["text"]) >= 0.6) == same, row["id"]
        overlap_wrong += (overlap.similarity(small["text"], large["text"]) >= 0.6) != same
    assert decided >= 40
    assert overlap_wrong >= decided // 5


def test_the_real_answers_are_those_the_shared_outcomes_record() -> None:
    """The shared outcomes' `correct` flags are these answers' recorded letters against
    the reference, so the answers belong to the shared data."""
    outcomes_file = _mmlu_pro() / "outcomes.jsonl"
    if not outcomes_file.is_file():
        pytest.skip(f"the shared MMLU-Pro data is not at {outcomes_file.resolve()}")
    correct = {}
    for line in outcomes_file.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        correct[row["id"]] = row["correct"]
    for row in _real_pairs():
        for side in (row["small"], row["large"]):
            assert correct[row["id"]][side["model"]] == int(side["pred"] == row["answer"])
