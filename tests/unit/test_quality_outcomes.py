"""Multi-model outcomes (routing-train/mmlu-pro): rows per pair, errors with line numbers,
and the leave-one-source-out / leave-one-pair-out folds built on them."""

import json
from pathlib import Path

import pytest
from hybridroute_quality import crossval as cv
from hybridroute_quality.datasets import DataError, Row, load

pytestmark = pytest.mark.unit

PAIRS = [{"small": "s1", "large": "l1"}, {"small": "s2", "large": "l2"}]


def _line(prompt: str, src: str, **correct: int) -> str:
    return json.dumps({"id": 1, "prompt": prompt, "src": src, "category": "x", "correct": correct})


def _folder(tmp_path: Path, lines: list[str], pairs: object = PAIRS) -> Path:
    folder = tmp_path / "bench"
    folder.mkdir()
    (folder / "pairs.json").write_text(json.dumps(pairs), encoding="utf-8")
    (folder / "outcomes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_each_line_becomes_one_row_per_pair_with_source_and_pair(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        [
            _line("Q1", "stemez-Physics", s1=0, l1=1, s2=1, l2=1),
            _line("Q2", "theoremQA-Math", s1=1, l1=0, s2=0, l2=0),
        ],
    )
    rows = load([tmp_path]).rows  # the parent folder finds the outcomes folder
    assert [(r.prompt, r.pair, r.small, r.large) for r in rows] == [
        ("Q1", "s1>l1", 0.0, 1.0),
        ("Q1", "s2>l2", 1.0, 1.0),
        ("Q2", "s1>l1", 1.0, 0.0),
        ("Q2", "s2>l2", 0.0, 0.0),
    ]
    assert {r.source for r in rows} == {"bench/stemez", "bench/theoremQA"}
    assert rows[0].group == "stemez-Physics"
    assert load([folder]).rows == rows


def test_missing_labels_and_bad_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        [
            _line("Q1", "stemez-A", s1=0, l1=1, s2=1, l2=1),
            _line("Q2", "stemez-A", s1=0, l1=1, s2=1),  # l2 missing
            "{broken",
            _line("Q4", "stemez-A", s1=2, l1=1, s2=1, l2=0),  # not 0/1
            json.dumps({"prompt": "Q5", "src": "stemez-A"}),
        ],
    )
    data = load([folder])
    where = str(folder / "outcomes.jsonl")
    assert [str(e) for e in data.errors] == [
        f"{where}:2: pair s2>l2: no outcome for model 'l2'",
        f"{where}:3: invalid JSON: Expecting property name enclosed in double quotes",
        f"{where}:4: pair s1>l1: outcome of 's1' must be 0 or 1, got 2",
        f"{where}:5: missing 'correct' (an object: model name -> 0 or 1)",
    ]
    # the other pair of a line with one bad label is kept
    assert [(r.prompt, r.pair) for r in data.rows] == [
        ("Q1", "s1>l1"),
        ("Q1", "s2>l2"),
        ("Q2", "s1>l1"),
        ("Q4", "s2>l2"),
    ]
    with pytest.raises(DataError, match=r"outcomes.jsonl:2: pair s2>l2: no outcome"):
        load([folder], strict=True)


def test_a_pair_naming_an_unknown_model_is_refused(tmp_path: Path) -> None:
    pairs = [*PAIRS, {"small": "s1", "large": "gpt-9"}]
    folder = _folder(tmp_path, [_line("Q1", "stemez-A", s1=0, l1=1, s2=1, l2=1)], pairs)
    (folder / "pairs.json").write_text(json.dumps(pairs, indent=1), encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs.json:12: unknown model 'gpt-9'.*known: l1, l2"):
        load([folder])


def test_pairs_file_must_name_small_and_large(tmp_path: Path) -> None:
    folder = _folder(tmp_path, [_line("Q1", "a-b", s1=0, l1=1)], [{"small": "s1"}])
    with pytest.raises(DataError, match="pair 1: needs non-empty 'small' and 'large'"):
        load([folder])


def _grid() -> list[Row]:
    rows = []
    for source in ("A", "B", "C"):
        for pair in ("p>P", "q>Q"):
            rows += [
                Row(f"{source} {i}", i % 2, 1.0, source, source=source, pair=pair) for i in range(4)
            ]
    return rows


def test_leave_one_source_out_never_trains_on_the_test_source() -> None:
    folds = cv.source_folds(_grid())
    assert [f.name for f in folds] == ["A", "B", "C"]
    for f in folds:
        assert {r.source for r in f.test} == {f.name}
        assert f.name not in {r.source for r in f.train}
        assert not {r.prompt for r in f.train} & {r.prompt for r in f.test}


def test_leave_one_pair_out_trains_on_other_sources_and_other_pairs_only() -> None:
    folds = cv.pair_folds(_grid())
    assert len(folds) == 6
    for f in folds:
        ((source, pair),) = {(r.source, r.pair) for r in f.test}
        assert all(r.source != source and r.pair != pair for r in f.train)
        assert f.train


def test_source_folds_need_two_sources() -> None:
    with pytest.raises(ValueError, match="two sources"):
        cv.source_folds([Row("x", 0, 1, source="only")])
