"""`hybridroute calibrate --decision-log --preroute` reads the decision log the real
router writes with its cascade on: the cascaded requests and their escalations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hybridroute_quality.cli import main
from router_harness import policy_doc, running_router, wait_for

pytestmark = pytest.mark.integration

SIMPLE = [{"role": "user", "content": "What is the capital of France?"}]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_the_calibration_counts_the_cascades_logged_escalations(
    tmp_path: Path, large: Any, small: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "decisions.jsonl"
    doc = policy_doc(
        large[1], {"v1": small[1]}, confidence={"enabled": True, "minMeanLogprob": -0.5}
    )
    with running_router(doc, tmp_path, "--decision-log", str(log)) as r:
        client = r.openai()
        for logprob in (-2.0, -0.1, -2.0, -0.1, -2.0):
            small[0].logprob = logprob
            client.chat.completions.create(model="hybrid", messages=SIMPLE)
        records = wait_for(lambda: _lines(log) if len(_lines(log)) == 5 else None)
    assert [x["reason"] for x in records].count("low_confidence_escalation") == 3
    assert main(["calibrate", "--decision-log", str(log), "--preroute"]) == 0
    out = capsys.readouterr().out
    assert "5 cascaded requests" in out
    assert "3 escalated" in out
    # five requests are far too few to show that pre-routing pays: the threshold stays
    assert "pre-routing more would not pay" in out
    threshold = records[0]["decision"]["threshold"]
    assert f"threshold: {threshold:.4f}" in out
