"""Shadow testing: a share of requests is mirrored to the other model off the request
path, compared, and recorded per small version; it never delays or fails a client."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from router_harness import (
    FakeUpstream,
    fake_upstream,
    policy_doc,
    running_router,
    wait_for,
)

pytestmark = pytest.mark.integration

SIMPLE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def large() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("large", "The capital of France is Paris.") as pair:
        yield pair


@pytest.fixture
def small() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("small", "Paris is the capital of France.") as pair:
        yield pair


def shadow_doc(large: Any, small: Any, tmp_path: Path, **shadow: Any) -> dict[str, Any]:
    return policy_doc(
        large[1],
        {"v1": small[1]},
        shadow={"percent": 100, "comparator": "token-overlap", "agreementThreshold": 0.6, **shadow},
        logging={"feedbackLog": str(tmp_path / "feedback.jsonl"), "logPrompts": True},
    )


def metric(url: str, outcome: str, version: str = "v1") -> float:
    text = httpx.get(f"{url}/metrics").text
    m = re.search(
        rf'hybridroute_shadow_comparisons_total{{outcome="{outcome}",route="test",'
        rf'version="{version}"}} ([0-9.e+]+)',
        text,
    )
    return float(m.group(1)) if m else 0.0


def records(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "feedback.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_shadow_compares_answers_and_records_agreement_per_version(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with running_router(shadow_doc(large, small, tmp_path), tmp_path) as r:
        answer = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        assert answer.choices[0].message.content == "Paris is the capital of France."
        wait_for(lambda: metric(r.url, "agree") == 1.0)
        (record,) = wait_for(lambda: records(tmp_path))
    assert large[0].requests[0]["model"] == "large-model"
    assert record["kind"] == "shadow"
    assert record["primary"] == "small"
    assert record["agree"] is True
    assert record["similarity"] == pytest.approx(1.0)
    assert record["small_answer"] == "Paris is the capital of France."
    assert record["large_answer"] == "The capital of France is Paris."
    assert record["prompt"] == "What is the capital of France?"


def test_disagreement_is_counted(tmp_path: Path, large: Any, small: Any) -> None:
    large[0].answer = "Lyon, obviously, as everyone knows"
    with running_router(shadow_doc(large, small, tmp_path), tmp_path) as r:
        r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        wait_for(lambda: metric(r.url, "disagree") == 1.0)
    assert records(tmp_path)[0]["agree"] is False


def test_shadow_never_delays_the_client(tmp_path: Path, large: Any, small: Any) -> None:
    gate = threading.Event()
    large[0].on_request = lambda _req: gate.wait(10)  # the shadow target hangs...
    try:
        with running_router(shadow_doc(large, small, tmp_path), tmp_path) as r:
            answer = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
            # ...and the client has its answer while the shadow call is still held.
            assert answer.choices[0].message.content == "Paris is the capital of France."
            wait_for(lambda: len(large[0].requests) == 1)
            assert metric(r.url, "agree") == 0.0  # the comparison is still pending
            gate.set()
            wait_for(lambda: metric(r.url, "agree") == 1.0)
    finally:
        gate.set()


def test_a_failing_shadow_target_never_fails_the_client(
    tmp_path: Path, large: Any, small: Any
) -> None:
    large[0].status = 500
    with running_router(shadow_doc(large, small, tmp_path), tmp_path) as r:
        answer = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        assert answer.choices[0].message.content == "Paris is the capital of France."
        wait_for(lambda: metric(r.url, "error") == 1.0)


def test_a_full_shadow_queue_drops_jobs_instead_of_waiting(
    tmp_path: Path, large: Any, small: Any
) -> None:
    gate = threading.Event()
    large[0].on_request = lambda _req: gate.wait(10)
    doc = shadow_doc(large, small, tmp_path, maxConcurrency=1, queueSize=1)
    try:
        with running_router(doc, tmp_path) as r:
            client = r.openai()
            for _ in range(5):
                client.chat.completions.create(model="hybrid", messages=SIMPLE)
            # one in flight at the shadow target, one queued, the rest dropped
            assert metric(r.url, "dropped") == 3.0
            gate.set()
            wait_for(lambda: metric(r.url, "agree") == 2.0)
    finally:
        gate.set()


def test_no_shadow_traffic_at_zero_percent(tmp_path: Path, large: Any, small: Any) -> None:
    doc = shadow_doc(large, small, tmp_path, percent=0)
    with running_router(doc, tmp_path) as r:
        for _ in range(5):
            r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
    assert large[0].requests == []


def test_a_reload_that_restarts_the_shadow_workers_frees_their_connections(
    tmp_path: Path, large: Any, small: Any
) -> None:
    gate = threading.Event()
    large[0].on_request = lambda _req: gate.wait(10)
    try:
        with running_router(shadow_doc(large, small, tmp_path), tmp_path) as r:
            r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
            wait_for(lambda: len(large[0].requests) == 1)  # a shadow call is held upstream
            pool = r.rt.state.large.pool
            assert pool.in_use == 1
            r.write_policy(shadow_doc(large, small, tmp_path, maxConcurrency=2))
            wait_for(lambda: r.rt.state.policy.shadow.max_concurrency == 2)
            wait_for(lambda: pool.in_use == 0)  # the cancelled job gave its slot back
            assert r.rt.state.large.pool is pool
    finally:
        gate.set()


def test_streamed_answers_are_shadowed_too(tmp_path: Path, large: Any, small: Any) -> None:
    with running_router(shadow_doc(large, small, tmp_path), tmp_path) as r:
        stream = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream)
        wait_for(lambda: metric(r.url, "agree") == 1.0)
        (record,) = wait_for(lambda: records(tmp_path))
    assert text == "Paris is the capital of France."
    assert record["small_answer"] == text
    assert large[0].requests[0]["stream"] is False  # the shadow call itself is not streamed


def test_shadow_skips_a_model_whose_circuit_is_open(tmp_path: Path, large: Any, small: Any) -> None:
    doc = shadow_doc(large, small, tmp_path)
    doc["circuitBreaker"] = {"failureThreshold": 1, "openSeconds": 300}
    with running_router(doc, tmp_path) as r:
        r.rt.state.large.breaker.failure(time.monotonic())  # large is known to be down
        answer = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        wait_for(lambda: metric(r.url, "skipped") == 1.0)
    assert answer.choices[0].message.content == "Paris is the capital of France."
    assert large[0].requests == []


def test_shadow_never_takes_more_than_half_of_a_models_connections(
    tmp_path: Path, large: Any, small: Any
) -> None:
    doc = shadow_doc(large, small, tmp_path)
    doc["large"]["upstream"]["maxConnections"] = 1  # its one connection is for live traffic
    with running_router(doc, tmp_path) as r:
        r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        wait_for(lambda: metric(r.url, "skipped") == 1.0)
    assert large[0].requests == []
