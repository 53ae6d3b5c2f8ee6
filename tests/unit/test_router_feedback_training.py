"""The router's feedback records stay usable for training: records without the prompt
join a prompts file through the keyed prompt digest (the quality tools' reader)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hybridroute_quality.logs import feedback_rows, prompts_by_sha
from hybridroute_router.feedback import base_record, prompt_hmac

pytestmark = pytest.mark.unit

KEY = b"0123456789abcdef-secret"


def _shadow_record(prompt: str, key: bytes | None) -> dict[str, object]:
    record = base_record(
        "shadow",
        route="r",
        request_id="id-1",
        version="v1",
        prompt=prompt,
        prompt_hmac=prompt_hmac(key, prompt),
        log_prompts=False,
    )
    record.update(similarity=0.75, agree=True, primary="small")
    return record


def test_keyed_digest_joins_prompts_only_with_the_key(tmp_path: Path) -> None:
    log = tmp_path / "feedback.jsonl"
    log.write_text(json.dumps(_shadow_record("What is 2+2?", KEY)) + "\n")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "What is 2+2?"}) + "\n")
    joined = feedback_rows(log, prompts_by_sha(prompts, KEY))
    (row,) = joined.data.rows
    assert (row.prompt, row.small, row.large) == ("What is 2+2?", 0.75, 1.0)
    unkeyed = feedback_rows(log, prompts_by_sha(prompts))
    assert unkeyed.data.rows == []


def test_without_a_key_no_prompt_digest_is_logged() -> None:
    record = _shadow_record("What is 2+2?", None)
    assert "prompt_hmac" not in record
    assert "prompt_sha256" not in record
    assert "prompt" not in record
