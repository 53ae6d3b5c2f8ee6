"""The router's feedback and decision logs as training rows and live scores."""

import hashlib
import json
import math
from pathlib import Path

import pytest
from hybridroute_quality import logs

pytestmark = pytest.mark.unit


def _write(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "{broken\n")
    return path


def test_each_feedback_kind_becomes_a_labeled_row(tmp_path: Path) -> None:
    sha = hashlib.sha256(b"joined prompt").hexdigest()
    log = _write(
        tmp_path / "feedback.jsonl",
        [
            {"kind": "shadow", "request_id": "a", "similarity": 0.4, "prompt": "p1"},
            {"kind": "escalation", "request_id": "b", "small_mean_logprob": -0.7, "prompt": "p2"},
            {
                "kind": "user",
                "request_id": "c",
                "score": 0.2,
                "model": "small",
                "prompt_sha256": sha,
            },
            {"kind": "user", "request_id": "d", "score": 0.9, "model": "large", "prompt": "p4"},
            {"kind": "shadow", "request_id": "e", "similarity": 0.9},
            {"kind": "mystery", "request_id": "f"},
        ],
    )
    out = logs.feedback_rows(log, {sha: "joined prompt"})
    labels = [(r.prompt, r.small, r.large) for r in out.data.rows]
    assert labels == [
        ("p1", 0.4, 1.0),
        ("p2", pytest.approx(math.exp(-0.7)), 1.0),
        ("joined prompt", 0.2, 1.0),
    ]
    assert out.skipped == {
        "user rating not of the small model": 1,
        "no prompt (logPrompts off and no matching --prompts)": 1,
        "unknown kind 'mystery'": 1,
    }
    assert [e.line for e in out.data.errors] == [7]


def test_decision_log_scores_and_records_without_a_score(tmp_path: Path) -> None:
    log = _write(
        tmp_path / "decisions.jsonl",
        [
            {"request_id": "a", "model": "small", "decision": {"score": 0.25}},
            {"request_id": "b", "model": "large", "decision": {"score": 1.5}},
            {"request_id": "c", "small_mean_logprob": -0.2, "decision": {"score": 0.75}},
        ],
    )
    found, errors = logs.decisions(log)
    assert [(d.request_id, d.score, d.small_mean_logprob) for d in found] == [
        ("a", 0.25, None),
        ("c", 0.75, -0.2),
    ]
    assert [(e.line, e.message) for e in errors] == [
        (2, "no decision.score in [0, 1]"),
        (4, errors[1].message),
    ]
    assert "invalid JSON" in errors[1].message
