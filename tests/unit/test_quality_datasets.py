"""Loading labeled data: RouteLLM CSV and JSONL, malformed rows with line numbers."""

import json
from pathlib import Path

import pytest
from hybridroute_quality.datasets import DataError, load

pytestmark = pytest.mark.unit

CSV = (
    "prompt,mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview\n"
    '"What is 2+2?\nA. 3\nB. 4\nAnswer:",True,True\n'  # lines 2-5
    '"Broken label",maybe,True\n'  # line 6
    '"Too few columns",True\n'  # line 7
    '"Last\nquestion",False,True\n'  # lines 8-9
)


def test_reads_routellm_csv_with_subject_from_file_name(tmp_path: Path) -> None:
    path = tmp_path / "mmlu_astronomy.csv"
    path.write_text(CSV, encoding="utf-8")
    data = load([path])
    assert [(r.small, r.large) for r in data.rows] == [(1.0, 1.0), (0.0, 1.0)]
    assert {r.group for r in data.rows} == {"astronomy"}
    assert data.rows[0].prompt.startswith("What is 2+2?\nA. 3")


def test_malformed_csv_rows_are_reported_with_line_numbers_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "mmlu_x.csv"
    path.write_text(CSV, encoding="utf-8")
    data = load([path])
    assert [(e.line, e.message) for e in data.errors] == [
        (6, "small column must be True/False or a number in [0, 1], got 'maybe'"),
        (7, "expected 3 columns, got 2"),
    ]
    assert str(data.errors[0]).startswith(f"{path}:6: ")


def test_strict_mode_stops_at_the_first_malformed_row(tmp_path: Path) -> None:
    path = tmp_path / "mmlu_x.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(DataError, match=r"mmlu_x.csv:6: small column"):
        load([path], strict=True)


def test_jsonl_rows_errors_and_optional_fields(tmp_path: Path) -> None:
    good = {
        "prompt": "hi",
        "small": 0.25,
        "large": 1,
        "small_logprob": -0.3,
        "prompt_tokens": 12,
        "large_completion_tokens": 40,
    }
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"prompt": "p", "small": 1}),
        json.dumps({"prompt": "p", "small": 1.5, "large": 1}),
        "",
        json.dumps({"prompt": "p", "small": 1, "large": 1, "small_logprob": 0.2}),
        json.dumps({"prompt": "p", "small": 1, "large": 0, "prompt_tokens": -3}),
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    data = load([path])
    assert len(data.rows) == 1
    row = data.rows[0]
    assert (row.small, row.large, row.small_logprob) == (0.25, 1.0, -0.3)
    assert (row.prompt_tokens, row.small_completion_tokens, row.large_completion_tokens) == (
        12,
        None,
        40,
    )
    assert [e.line for e in data.errors] == [2, 3, 4, 6, 7]
    assert "invalid JSON" in data.errors[0].message
    assert "missing 'large'" in data.errors[1].message
    assert "must be in [0, 1]" in data.errors[2].message
    assert "small_logprob" in data.errors[3].message
    assert "prompt_tokens" in data.errors[4].message


def test_a_folder_loads_every_data_file_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.jsonl").write_text(json.dumps({"prompt": "b", "small": 0, "large": 1}) + "\n")
    (tmp_path / "a.csv").write_text("prompt,s,l\nq,True,False\n")
    (tmp_path / "notes.txt").write_text("ignored")
    data = load([tmp_path])
    assert [(r.prompt, r.group) for r in data.rows] == [("q", "a"), ("b", "b")]


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load([tmp_path / "nope.csv"])


def test_a_csv_without_the_expected_header_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("question,answer\nq,a\n")
    data = load([path])
    assert data.rows == []
    assert data.errors[0].line == 1
    assert "header" in data.errors[0].message
