"""The confidence cascade: small model first with logprobs, escalate to large when the
mean token logprob is below the policy threshold."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from router_harness import (
    metrics_with,
    policy_doc,
    running_router,
    wait_for,
)

pytestmark = pytest.mark.integration

SIMPLE = [{"role": "user", "content": "What is the capital of France?"}]


def cascade_doc(large: Any, small: Any, tmp_path: Path, streaming: str = "skip") -> dict[str, Any]:
    return policy_doc(
        large[1],
        {"v1": small[1]},
        confidence={"enabled": True, "minMeanLogprob": -0.5, "streaming": streaming},
        logging={"feedbackLog": str(tmp_path / "feedback.jsonl")},
    )


def feedback(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "feedback.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_escalates_when_small_model_confidence_is_low(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].logprob = -2.0
    with running_router(cascade_doc(large, small, tmp_path), tmp_path) as r:
        raw = r.openai().chat.completions.with_raw_response.create(model="hybrid", messages=SIMPLE)
        large_tokens = (
            'hybridroute_tokens_total{kind="completion",model="large",route="test",'
            'version="large"} 2.0'
        )
        metrics = metrics_with(r.url, large_tokens)
        records = wait_for(lambda: feedback(tmp_path))
    assert raw.parse().choices[0].message.content == "large answer"
    assert raw.headers["x-hybridroute-reason"] == "low_confidence_escalation"
    assert small[0].requests[0]["logprobs"] is True
    assert "logprobs" not in large[0].requests[0]
    assert (
        'hybridroute_escalations_total{reason="low_confidence_escalation",route="test",'
        'version="v1"} 1.0'
    ) in metrics
    # both answers were paid for: the discarded small one and the large one
    assert (
        'hybridroute_tokens_total{kind="completion",model="small",route="test",version="v1"} 2.0'
    ) in metrics
    (record,) = records
    assert record["kind"] == "escalation"
    assert record["version"] == "v1"
    assert record["small_mean_logprob"] == pytest.approx(-2.0)
    assert "prompt" not in record
    # no --hash-key-file: no digest of the prompt either (a plain hash can be guessed)
    assert "prompt_sha256" not in record
    assert "prompt_hmac" not in record


def test_feedback_records_carry_a_keyed_prompt_digest_with_a_hash_key(
    tmp_path: Path, large: Any, small: Any
) -> None:
    key = tmp_path / "hash.key"
    key.write_bytes(b"0123456789abcdef0123456789abcdef\n")
    small[0].logprob = -2.0
    doc = cascade_doc(large, small, tmp_path)
    with running_router(doc, tmp_path, "--hash-key-file", str(key)) as r:
        r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        (record,) = wait_for(lambda: feedback(tmp_path))
    prompt = SIMPLE[0]["content"].encode()
    expected = hmac.new(b"0123456789abcdef0123456789abcdef", prompt, hashlib.sha256).hexdigest()
    assert record["prompt_hmac"] == expected
    assert record["v"] == 2
    assert "prompt" not in record


def test_keeps_a_confident_small_answer_and_strips_logprobs_the_client_did_not_ask_for(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with running_router(cascade_doc(large, small, tmp_path), tmp_path) as r:
        raw = r.openai().chat.completions.with_raw_response.create(model="hybrid", messages=SIMPLE)
    completion = raw.parse()
    assert completion.choices[0].message.content == "small answer"
    assert completion.choices[0].logprobs is None
    assert raw.headers["x-hybridroute-reason"] == "complexity_below_threshold"
    assert large[0].requests == []


def test_logprobs_the_client_asked_for_are_passed_through(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with running_router(cascade_doc(large, small, tmp_path), tmp_path) as r:
        completion = r.openai().chat.completions.create(
            model="hybrid", messages=SIMPLE, logprobs=True
        )
    assert completion.choices[0].logprobs is not None
    assert completion.choices[0].logprobs.content[0].logprob == pytest.approx(-0.05)


def test_small_answer_without_logprobs_is_kept_with_its_own_reason(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].supports_logprobs = False
    with running_router(cascade_doc(large, small, tmp_path), tmp_path) as r:
        raw = r.openai().chat.completions.with_raw_response.create(model="hybrid", messages=SIMPLE)
    assert raw.parse().choices[0].message.content == "small answer"
    assert raw.headers["x-hybridroute-reason"] == "confidence_unavailable"


@pytest.mark.parametrize("stream", [False, True])
def test_small_model_rejecting_logprobs_still_answers_with_the_clients_own_body(
    tmp_path: Path, large: Any, small: Any, stream: bool
) -> None:
    small[0].rejects_logprobs = True
    doc = cascade_doc(large, small, tmp_path, "buffer")
    with running_router(doc, tmp_path) as r:
        raw = r.openai().chat.completions.with_raw_response.create(
            model="hybrid", messages=SIMPLE, stream=stream
        )
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse())
        else:
            text = raw.parse().choices[0].message.content
    assert raw.http_response.status_code == 200
    assert text == "small answer"
    assert raw.headers["x-hybridroute-reason"] == "confidence_unavailable"
    assert "logprobs" in small[0].requests[0]
    assert "logprobs" not in small[0].requests[1]
    assert large[0].requests == []


def test_legacy_completions_cascade_with_integer_logprobs(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].logprob = -3.0
    with running_router(cascade_doc(large, small, tmp_path), tmp_path) as r:
        completion = r.openai().completions.create(model="hybrid", prompt="Say hi")
    assert small[0].requests[0]["logprobs"] == 1
    assert completion.choices[0].text == "large answer"


@pytest.mark.parametrize("large_status", [500, 400])
def test_escalation_with_large_failing_serves_the_small_answer_degraded(
    tmp_path: Path, large: Any, small: Any, large_status: int
) -> None:
    small[0].logprob = -2.0
    large[0].status = large_status
    with running_router(cascade_doc(large, small, tmp_path), tmp_path) as r:
        raw = r.openai().chat.completions.with_raw_response.create(model="hybrid", messages=SIMPLE)
    assert raw.parse().choices[0].message.content == "small answer"
    assert raw.headers["x-hybridroute-degraded"] == "true"
    assert raw.headers["x-hybridroute-reason"] == "fallback_large_to_small"


def test_streaming_skips_the_cascade_by_default(tmp_path: Path, large: Any, small: Any) -> None:
    small[0].logprob = -2.0
    with running_router(cascade_doc(large, small, tmp_path), tmp_path) as r:
        stream = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "small answer"
    assert "logprobs" not in small[0].requests[0]


def test_streaming_in_buffer_mode_escalates_before_the_first_byte(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].logprob = -2.0
    with running_router(cascade_doc(large, small, tmp_path, "buffer"), tmp_path) as r:
        stream = r.openai().chat.completions.with_raw_response.create(
            model="hybrid", messages=SIMPLE, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream.parse())
    assert text == "large answer"
    assert stream.headers["x-hybridroute-reason"] == "low_confidence_escalation"


def test_streaming_in_buffer_mode_replays_a_confident_small_stream_without_logprobs(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with running_router(cascade_doc(large, small, tmp_path, "buffer"), tmp_path) as r:
        stream = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE, stream=True)
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "small answer"
    assert all(c.choices[0].logprobs is None for c in chunks)
    assert large[0].requests == []


def test_a_confident_buffered_small_stream_counts_its_tokens_cost_and_energy(
    tmp_path: Path, large: Any, small: Any
) -> None:
    """The replayed small stream is SSE, not one JSON body: its usage event must still be
    read (it was decoded as JSON and counted as 0 tokens, no cost, no energy)."""
    with running_router(cascade_doc(large, small, tmp_path, "buffer"), tmp_path) as r:
        stream = r.openai().chat.completions.create(
            model="hybrid",
            messages=SIMPLE,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        tokens = (
            'hybridroute_tokens_total{kind="completion",model="small",route="test",'
            'version="v1"} 2.0'
        )
        metrics = metrics_with(r.url, 'hybridroute_requests_total{code="200"')
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 2
    assert tokens in metrics
    assert (
        'hybridroute_tokens_total{kind="prompt",model="small",route="test",version="v1"} 10.0'
    ) in metrics
    # pricing 0.001/0.002 per 1k tokens, 300 J per 1k tokens (policy_doc)
    cost = 'hybridroute_cost_usd_total{model="small",route="test",version="v1"} 1.4e-05'
    assert cost in metrics
    assert 'hybridroute_energy_joules_total{model="small",route="test",version="v1"} 3.6' in metrics
