"""The replay book and the replay servers' behaviour knobs (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hybridroute_localstack.replay import Behaviour, replay_arguments
from hybridroute_localstack.replay.behaviour import rationale
from hybridroute_localstack.replay.server import behaviour_from, parser
from hybridroute_localstack.replaybook import (
    OVERLAPPING,
    SEPARATED,
    UNKNOWN_ANSWER,
    BookError,
    LogprobRanges,
    ReplayBook,
    answer_key,
    grade,
    mean_logprob,
)

pytestmark = pytest.mark.unit

QUESTION = "Which planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\nD. Mercury\nAnswer:"


@pytest.fixture
def book(tmp_path: Path) -> ReplayBook:
    csv = tmp_path / "mmlu_astronomy.csv"
    csv.write_text(f'prompt,small,large\n"{QUESTION}",False,True\n"Q2\nA. x\nB. y",True,True\n')
    return ReplayBook.from_paths([tmp_path])


def test_each_model_answers_as_recorded_and_grading_reads_it_back(book: ReplayBook) -> None:
    large, large_logprob = book.answer("large", QUESTION)
    small, small_logprob = book.answer("small", QUESTION)
    assert grade(QUESTION, large) == 1.0
    assert grade(QUESTION, small) == 0.0
    assert f"The answer is {answer_key(QUESTION)}." == large
    assert large_logprob == mean_logprob(QUESTION, True) >= -0.5
    assert small_logprob == mean_logprob(QUESTION, False) <= -0.15


def test_a_bad_student_is_wrong_with_the_confidence_of_a_right_answer(book: ReplayBook) -> None:
    text, logprob = book.answer("small", "Q2\nA. x\nB. y", disagree=True)
    assert grade("Q2\nA. x\nB. y", text) == 0.0
    assert logprob == mean_logprob("Q2\nA. x\nB. y", True)


def test_an_unknown_prompt_gets_the_generic_answer(book: ReplayBook) -> None:
    assert book.answer("large", "What is the weather?") == (UNKNOWN_ANSWER, -1.0)
    assert grade("What is the weather?", UNKNOWN_ANSWER) == 0.0


def test_a_malformed_row_names_its_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("prompt,small,large\nq,maybe,True\n")
    with pytest.raises(BookError, match=r"x.csv:2"):
        ReplayBook.from_paths([bad])


def test_the_rationale_makes_no_other_letter_claim() -> None:
    text = "The answer is C." + rationale("C", 12)
    assert grade(QUESTION, text) == grade(QUESTION, "The answer is C.")
    assert len(text.split()) == 4 + 12


def test_time_per_token_rises_with_the_share_of_capacity_in_use() -> None:
    b = Behaviour("large", capacity=4, ms_per_token=10, load_slowdown=1.0).resolved()
    assert b.token_seconds(0) == pytest.approx(0.010)
    assert b.token_seconds(2) == pytest.approx(0.015)
    assert b.token_seconds(9) == pytest.approx(0.020)


def test_unset_knobs_take_the_role_defaults_and_are_not_passed_on() -> None:
    small = Behaviour("small").resolved()
    large = Behaviour("large").resolved()
    assert small.ms_per_token < large.ms_per_token
    assert small.capacity > 0
    assert replay_arguments(Behaviour("small")) == ["--role", "small", "--load-slowdown", "0.5"]
    bad = replay_arguments(Behaviour("small", disagree=True, error_rate=0.2))
    assert bad[-3:] == ["--error-rate", "0.2", "--disagree"]


def test_logprob_ranges_are_a_setting_passed_on_to_the_server_command() -> None:
    assert SEPARATED.right[0] <= mean_logprob(QUESTION, True, SEPARATED) <= SEPARATED.right[1]
    assert SEPARATED.wrong[0] <= mean_logprob(QUESTION, False, SEPARATED) <= SEPARATED.wrong[1]
    behaviour = Behaviour("small", logprobs=SEPARATED)
    args = replay_arguments(behaviour)
    assert args[-6:] == ["--right-logprobs", "-0.4", "-0.05", "--wrong-logprobs", "-1.0", "-0.25"]
    assert behaviour_from(parser().parse_args(args)) == behaviour.resolved()
    assert behaviour_from(parser().parse_args(["--role", "large"])).logprobs == OVERLAPPING


def test_a_range_that_is_not_low_to_high_below_zero_is_refused() -> None:
    with pytest.raises(ValueError, match=r"right logprobs \(-0.05, -0.4\)"):
        LogprobRanges(right=(-0.05, -0.4), wrong=(-1.0, -0.25))
    with pytest.raises(ValueError, match="wrong logprobs"):
        LogprobRanges(right=(-0.4, -0.05), wrong=(-1.0, 0.5))
