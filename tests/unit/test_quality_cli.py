"""The ``hybridroute`` CLI end to end on small samples of the real data and tiny JSONL."""

import csv
import hashlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hybridroute_quality.cli import main
from hybridroute_quality.datasets import load
from hybridroute_quality.scoring import resolve
from hybridroute_router.scorers.learned import load_scorer

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MMLU = ROOT.parent / "shared" / "data" / "routing-eval" / "mmlu"
SUBJECTS = ("astronomy", "college_mathematics", "marketing", "professional_law")
EXE = Path(sys.executable).with_name("hybridroute")


def _require_data() -> None:
    if not MMLU.is_dir():
        pytest.skip(f"the shared RouteLLM data is not at {MMLU}")


@pytest.fixture
def mmlu_sample(tmp_path: Path) -> Path:
    """The first 40 rows of four real subject files, in RouteLLM's own format."""
    _require_data()
    folder = tmp_path / "mmlu"
    folder.mkdir()
    for subject in SUBJECTS:
        with (MMLU / f"{subject}.csv").open(newline="", encoding="utf-8") as src:
            rows = list(csv.reader(src))[:41]
        with (folder / f"{subject}.csv").open("w", newline="", encoding="utf-8") as dst:
            csv.writer(dst).writerows(rows)
    return folder


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _tiny_rows(n: int = 40) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(n):
        hard = i % 2 == 0
        rows.append(
            {
                "prompt": (
                    f"Derive and prove the bound for case {i}, step by step, then compute it."
                    if hard
                    else f"Say hello to friend number {i}."
                ),
                "small": 0.0 if hard else 1.0,
                "large": 1.0,
                "small_logprob": -1.5 - i / 100 if hard else -0.1,
                "prompt_tokens": 30 if hard else 8,
                "small_completion_tokens": 50,
                "large_completion_tokens": 60,
                "group": f"g{i % 4}",
            }
        )
    return rows


def test_eval_on_real_rows_writes_json_summary_and_plot(mmlu_sample: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "summary.json", tmp_path / "curve.png"
    done = subprocess.run(
        [
            str(EXE),
            "eval",
            str(mmlu_sample),
            "--json",
            str(out),
            "--plot",
            str(png),
            "--large-input-price",
            "0.01",
            "--small-input-price",
            "0.001",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(out.read_text())
    assert summary["n"] == 160
    assert set(summary["scorers"]) == {
        "random",
        "oracle",
        "token-length",
        "heuristic",
        "default",
        "auto",
    }
    for entry in summary["scorers"].values():
        assert {"apgr", "cpt50", "cpt80", "operatingPoints"} <= set(entry)
    assert summary["scorers"]["random"]["apgr"] == pytest.approx(0.5)
    assert summary["scorers"]["oracle"]["apgr"] > 1.0
    last = summary["scorers"]["default"]["operatingPoints"][-1]
    assert last["largeShare"] == 1.0
    assert last["quality"] == pytest.approx(summary["largeQuality"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "default" in done.stdout
    assert "APGR" in done.stdout


def test_eval_adds_cascade_and_composite_when_rows_carry_logprobs(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "rows.jsonl", _tiny_rows())
    out = tmp_path / "s.json"
    code = main(
        [
            "eval",
            str(data),
            "--scorer",
            "token-length",
            "--json",
            str(out),
            "--no-progress",
            "--small-input-price",
            "1",
            "--small-output-price",
            "1",
            "--large-input-price",
            "10",
            "--large-output-price",
            "10",
        ]
    )
    assert code == 0
    scorers = json.loads(out.read_text())["scorers"]
    assert {"token-length", "cascade", "composite:token-length"} <= set(scorers)
    # every hard row has the lowest logprob: the cascade escalates exactly those first
    assert scorers["cascade"]["cpt80"] <= 0.5
    # at an all-large share the cascade paid both calls on every query
    small_cost = (8 + 50) / 1000 * 0.5 + (30 + 50) / 1000 * 0.5
    large_cost = (8 + 60) / 1000 * 10 * 0.5 + (30 + 60) / 1000 * 10 * 0.5
    cascade_last = scorers["cascade"]["operatingPoints"][-1]
    assert cascade_last["costPerQuery"] == pytest.approx(small_cost + large_cost)
    preroute_last = scorers["token-length"]["operatingPoints"][-1]
    assert preroute_last["costPerQuery"] == pytest.approx(large_cost)


def test_eval_reports_malformed_rows_with_line_numbers_and_continues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.dumps(r) for r in _tiny_rows(12)]
    rows.insert(3, '{"prompt": "x", "small": 2, "large": 1}')
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join(rows) + "\n")
    assert main(["eval", str(data), "--scorer", "random", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"{data}:4: 'small' must be in [0, 1]" in err
    assert main(["eval", str(data), "--scorer", "random", "--strict"]) == 2
    assert f"{data}:4:" in capsys.readouterr().err


def test_eval_rejects_an_unknown_scorer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _jsonl(tmp_path / "rows.jsonl", _tiny_rows(12))
    assert main(["eval", str(data), "--scorer", "psychic"]) == 2
    assert "unknown scorer 'psychic'" in capsys.readouterr().err
    assert main(["eval", str(data), "--scorer", "auto:"]) == 2  # no artifact named
    assert "auto:ARTIFACT needs the path of a trained artifact" in capsys.readouterr().err


def test_calibrate_prints_a_snippet_for_a_target_share(
    mmlu_sample: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["calibrate", str(mmlu_sample), "--target-large-share", "0.25", "--no-progress"]) == 0
    )
    out = capsys.readouterr().out
    assert "large share 25.0%" in out
    assert "    scorer: auto\n    threshold: " in out  # the policy's default scorer


def test_calibrate_for_quality_from_decision_and_feedback_logs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions = [
        {"request_id": f"r{i}", "model": "small", "decision": {"score": i / 10}} for i in range(10)
    ]
    decision_log = _jsonl(tmp_path / "decisions.jsonl", decisions)
    # shadow comparisons: requests scoring >= 0.7 got poor small answers
    feedback = [
        {"v": 1, "kind": "shadow", "request_id": f"r{i}", "similarity": 0.2 if i >= 7 else 1.0}
        for i in range(10)
    ]
    feedback_log = _jsonl(tmp_path / "feedback.jsonl", feedback)
    code = main(
        [
            "calibrate",
            "--decision-log",
            str(decision_log),
            "--feedback-log",
            str(feedback_log),
            "--target-quality",
            "1.0",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "threshold: 0.6500" in out
    assert "large share 30.0%" in out
    code = main(["calibrate", "--decision-log", str(decision_log), "--target-large-share", "0.5"])
    assert code == 0
    assert "threshold: 0.4500" in capsys.readouterr().out


def test_train_from_jsonl_and_feedback_log_then_eval_the_artifact(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "rows.jsonl", _tiny_rows())
    prompt = "Explain the proof of the spectral theorem in detail."
    feedback = [
        {"v": 1, "kind": "shadow", "request_id": "a", "similarity": 0.1, "prompt": prompt},
        {
            "v": 1,
            "kind": "user",
            "request_id": "b",
            "score": 0.9,
            "model": "small",
            "prompt_sha256": hashlib.sha256(b"hello there").hexdigest(),
        },
        {"v": 1, "kind": "user", "request_id": "c", "score": 0.9, "model": "large"},
    ]
    fb = _jsonl(tmp_path / "feedback.jsonl", feedback)
    prompts = _jsonl(tmp_path / "prompts.jsonl", [{"prompt": "hello there"}])
    art = tmp_path / "artifacts" / "mine"
    done = subprocess.run(
        [
            str(EXE),
            "train",
            str(data),
            "--feedback-log",
            str(fb),
            "--prompts",
            str(prompts),
            "--out",
            str(art),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "trained on 42 rows" in done.stdout
    assert "user rating not of the small model): 1" in done.stderr
    scorer = load_scorer(art)
    assert scorer.score(
        "Derive and prove the bound for case 99, step by step, then compute it."
    ) > (scorer.score("Say hello to friend number 99."))
    out = tmp_path / "eval.json"
    artifact = f"{art}.json"
    assert (
        main(["eval", str(data), "--scorer", artifact, "--scorer", "oracle", "--json", str(out)])
        == 0
    )
    scorers = json.loads(out.read_text())["scorers"]
    # it separates the two kinds of prompts perfectly: as good as the oracle
    assert scorers[artifact]["apgr"] == pytest.approx(scorers["oracle"]["apgr"])

    # auto:ARTIFACT is the router's `scorer: auto` with this artifact as its learned
    # part: on exam-style rows (answer options) it scores exactly as the artifact
    exam = [{**r, "prompt": f"{r['prompt']}\nA. 1\nB. 2\nC. 3"} for r in _tiny_rows()]
    rows = load([_jsonl(tmp_path / "exam.jsonl", exam)]).rows
    mine = resolve(f"auto:{art}", show_progress=False)(rows)
    assert mine.tolist() == resolve(artifact, show_progress=False)(rows).tolist()
    assert mine.tolist() != resolve("auto", show_progress=False)(rows).tolist()  # not the default
    assert main(["eval", str(tmp_path / "exam.jsonl"), "--scorer", f"auto:{art}"]) == 0
    assert main(["eval", str(tmp_path / "exam.jsonl"), "--scorer", f"auto:{tmp_path}/no"]) == 2


def test_cv_holds_out_groups_and_reports_each_scorer(mmlu_sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "cv.json"
    assert main(["cv", str(mmlu_sample), "--folds", "2", "--json", str(out), "--no-progress"]) == 0
    summary = json.loads(out.read_text())
    held = [set(f["testGroups"]) for f in summary["folds"]]
    assert held[0].isdisjoint(held[1])
    assert held[0] | held[1] == set(SUBJECTS)
    assert {
        "learned",
        "learned:model-only",
        "learned:+length",
        "learned:+heuristic",
        "auto",
        "group-oracle",
        "random",
        "token-length",
        "heuristic",
        "default",
        "similarity",
    } == set(summary["scorers"])
    assert summary["scorers"]["random"]["apgr"] == pytest.approx(0.5)
    assert all(math.isfinite(f["apgr"]) for f in summary["scorers"]["learned"]["perFold"])
    # every MMLU question takes auto's learned branch: the same numbers as the recipe
    assert summary["scorers"]["auto"]["perFold"] == summary["scorers"]["learned"]["perFold"]


def test_cv_needs_as_many_groups_as_folds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _jsonl(tmp_path / "rows.jsonl", _tiny_rows())
    assert main(["cv", str(data), "--folds", "5"]) == 2
    assert "4 groups cannot make 5 folds" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    assert EXE.is_file() or shutil.which("hybridroute")


def test_eval_takes_prices_and_energy_from_a_policy_file(tmp_path: Path) -> None:
    policy = ROOT / "examples" / "01-router-policy" / "policy.yaml"
    rows = [
        {"prompt": f"question {i}", "small": i % 2, "large": 1, "prompt_tokens": 1000}
        for i in range(10)
    ]
    data = _jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "s.json"
    args = ["eval", str(data), "--scorer", "random", "--policy", str(policy)]
    assert main([*args, "--completion-tokens", "0", "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["costModel"]["large"]["inputPer1kTokens"] == pytest.approx(0.00088)
    points = summary["scorers"]["random"]["operatingPoints"]
    # 1,000 prompt tokens per query: all small, then all large
    assert points[0]["costPerQuery"] == pytest.approx(0.0001)
    assert points[-1]["costPerQuery"] == pytest.approx(0.00088)
    assert points[0]["energyJoulesPerQuery"] == pytest.approx(300.0)
    assert points[-1]["energyJoulesPerQuery"] == pytest.approx(2800.0)
    assert points[-1]["costSavedVsAllLarge"] == pytest.approx(0.0)


def test_cv_by_source_reports_every_scorer_per_held_out_source(tmp_path: Path) -> None:
    for source in ("bench-a", "bench-b"):
        rows = [{**r, "source": source} for r in _tiny_rows()]
        _jsonl(tmp_path / f"{source}.jsonl", rows)
    out = tmp_path / "cv.json"
    args = ["cv", str(tmp_path), "--split", "sources", "--json", str(out), "--no-progress"]
    assert main([*args, "--scorer", "token-length", "--scorer", "heuristic"]) == 0
    summary = json.loads(out.read_text())
    assert [f["name"] for f in summary["folds"]] == ["bench-a", "bench-b"]
    for name in ("learned", "learned:+heuristic", "token-length", "heuristic"):
        assert set(summary["scorers"][name]["perSource"]) == {"bench-a", "bench-b"}
    # trained on the other source only, the learned recipe still separates the two kinds
    # perfectly (half the rows gain 1, the rest 0: a perfect order scores 0.75)
    assert summary["scorers"]["learned"]["perSource"]["bench-a"]["apgr"] == pytest.approx(0.75)
    calibration = summary["calibration"][0]
    assert 0.0 <= calibration["predictedSmallFails"] <= 1.0


def test_eval_names_every_router_scorer_the_similarity_one_with_its_examples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRIDROUTE_EMBEDDINGS", "hashed")  # no model download in unit tests
    data = _jsonl(tmp_path / "rows.jsonl", _tiny_rows())
    examples = _jsonl(
        tmp_path / "examples.jsonl",
        [
            {"text": "Derive and prove the bound, step by step, then compute it.", "label": "hard"},
            {"text": "Say hello to a friend.", "label": "simple"},
        ],
    )
    out = tmp_path / "eval.json"
    names = ["heuristic", "learned", f"similarity:{examples}", f"similarity:{data}"]
    args = ["eval", str(data), "--json", str(out), "--no-progress"]
    assert main([*args, *(a for n in names for a in ("--scorer", n))]) == 0
    scorers = json.loads(out.read_text())["scorers"]
    assert set(names) <= set(scorers)
    # two curated examples already separate the two kinds of prompts
    assert scorers[f"similarity:{examples}"]["apgr"] > scorers["learned"]["apgr"]


def test_eval_rejects_similarity_examples_without_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _jsonl(tmp_path / "rows.jsonl", _tiny_rows())
    bad = _jsonl(tmp_path / "ex.jsonl", [{"text": "hi", "label": "easy"}])
    assert main(["eval", str(data), "--scorer", f"similarity:{bad}"]) == 2
    assert "ex.jsonl:1: needs 'text' and 'label' simple|hard" in capsys.readouterr().err


def test_eval_scores_one_model_pair_of_multi_model_outcomes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    pairs = [{"small": "s1", "large": "l1"}, {"small": "s2", "large": "l2"}]
    (folder / "pairs.json").write_text(json.dumps(pairs), encoding="utf-8")
    lines = [
        {
            "prompt": r["prompt"],
            "src": "x-y",
            "correct": {"s1": int(r["small"]), "l1": 1, "s2": 1, "l2": 1},
        }
        for r in _tiny_rows()
    ]
    _jsonl(folder / "outcomes.jsonl", lines)
    out = tmp_path / "eval.json"
    assert main(["eval", str(folder), "--scorer", "random", "--json", str(out)]) == 0
    assert "rows of 2 model pairs share one curve" in capsys.readouterr().err
    assert (
        main(["eval", str(folder), "--pair", "s1>", "--scorer", "oracle", "--json", str(out)]) == 0
    )
    summary = json.loads(out.read_text())
    assert summary["n"] == 40
    assert summary["smallQuality"] == pytest.approx(0.5)
    assert main(["eval", str(folder), "--pair", "gpt"]) == 2
    assert "no rows of a pair matching 'gpt'; pairs: s1>l1, s2>l2" in capsys.readouterr().err


def test_calibrate_from_a_decision_log_names_the_scorer_that_scored_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A route kept at the heuristic (created before auto became the default) logs
    heuristic scores: its snippet must name the heuristic, not switch the route to auto
    with a threshold on the heuristic's scale. A log that mixes scorers (a policy changed
    its scorer) is calibrated on the most common one's records only, and says so."""

    def record(i: int, scores: dict[str, float]) -> dict[str, Any]:
        score = scores.get("auto", scores["heuristic"])
        return {"request_id": f"r{i}", "decision": {"score": score, "scores": scores}}

    heuristic = [record(i, {"heuristic": i / 10}) for i in range(10)]
    log = _jsonl(tmp_path / "heuristic.jsonl", heuristic)
    assert main(["calibrate", "--decision-log", str(log), "--target-large-share", "0.5"]) == 0
    assert "    scorer: heuristic\n    threshold: 0.4500" in capsys.readouterr().out

    auto = [record(i, {"heuristic": 0.9, "auto": i / 100}) for i in range(20)]
    learned_branch = [
        record(i, {"heuristic": 0.9, "learned": 0.3, "auto": 0.3}) for i in range(20, 30)
    ]
    log = _jsonl(tmp_path / "mixed.jsonl", [*heuristic, *auto, *learned_branch])
    assert main(["calibrate", "--decision-log", str(log), "--target-large-share", "0.5"]) == 0
    captured = capsys.readouterr()
    assert "    scorer: auto\n" in captured.out
    assert "auto 30, heuristic 10" in captured.err
    # the 30 auto records only: the top 15 are 0.3 (x10) and 0.15 to 0.19
    assert "30 rows" in captured.out
    assert "threshold: 0.1450" in captured.out
