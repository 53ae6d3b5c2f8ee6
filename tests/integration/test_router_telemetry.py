"""Telemetry: OpenTelemetry spans and traceparent propagation, the decision log, the
feedback endpoint and log, token/cost/energy metrics, and a real Prometheus scrape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hybridroute_router.telemetry.tracing import Tracing
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from router_harness import (
    FakeUpstream,
    fake_upstream,
    metrics_with,
    policy_doc,
    running_router,
    wait_for,
)

pytestmark = pytest.mark.integration

SIMPLE = [{"role": "user", "content": "What is the capital of France?"}]
PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture
def small() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("small", "small answer here") as pair:
        yield pair


def test_spans_for_request_decision_and_upstream_with_traceparent_propagated(
    tmp_path: Path, large: Any, small: Any
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    doc = policy_doc(large[1], {"v1": small[1]})
    with running_router(doc, tmp_path, tracing=Tracing(provider)) as r:
        r.openai().chat.completions.create(
            model="hybrid", messages=SIMPLE, extra_headers={"traceparent": TRACEPARENT}
        )
        spans = wait_for(
            lambda: (
                exporter.get_finished_spans() if len(exporter.get_finished_spans()) >= 3 else None
            )
        )
    by_name = {s.name: s for s in spans}
    request, decision, upstream = (
        by_name["hybridroute.request"],
        by_name["hybridroute.decision"],
        by_name["hybridroute.upstream"],
    )
    assert format(request.context.trace_id, "032x") == PARENT_TRACE  # continues the caller's trace
    assert decision.parent is not None
    assert decision.parent.span_id == request.context.span_id
    assert upstream.parent is not None
    assert upstream.parent.span_id == request.context.span_id
    assert decision.attributes is not None
    assert decision.attributes["hybridroute.reason"] == "complexity_below_threshold"
    assert upstream.attributes is not None
    assert upstream.attributes["hybridroute.version"] == "v1"
    sent = small[0].headers[-1]["traceparent"]
    assert sent == f"00-{PARENT_TRACE}-{upstream.context.span_id:016x}-01"
    provider.shutdown()


def test_without_tracing_an_incoming_traceparent_is_forwarded_unchanged(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with running_router(policy_doc(large[1], {"v1": small[1]}), tmp_path) as r:
        r.openai().chat.completions.create(
            model="hybrid", messages=SIMPLE, extra_headers={"traceparent": TRACEPARENT}
        )
    assert small[0].headers[-1]["traceparent"] == TRACEPARENT


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_decision_log_redacts_prompts_by_default(tmp_path: Path, large: Any, small: Any) -> None:
    log = tmp_path / "decisions.jsonl"
    with running_router(
        policy_doc(large[1], {"v1": small[1]}), tmp_path, "--decision-log", str(log)
    ) as r:
        r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        (record,) = wait_for(lambda: _log(log))
    assert record["model"] == "small"
    assert record["version"] == "v1"
    assert record["reason"] == "complexity_below_threshold"
    assert record["status"] == 200
    assert record["decision"]["scores"]["auto"] == record["decision"]["score"]  # the default
    assert "prompt" not in record
    assert "France" not in log.read_text()


def test_decision_log_keeps_prompts_when_the_policy_says_so(
    tmp_path: Path, large: Any, small: Any
) -> None:
    log = tmp_path / "decisions.jsonl"
    doc = policy_doc(large[1], {"v1": small[1]}, logging={"logPrompts": True})
    with running_router(doc, tmp_path, "--decision-log", str(log)) as r:
        r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        (record,) = wait_for(lambda: _log(log))
    assert record["prompt"] == "What is the capital of France?"


def test_user_feedback_is_logged_joined_with_the_request(
    tmp_path: Path, large: Any, small: Any
) -> None:
    fb = tmp_path / "feedback.jsonl"
    doc = policy_doc(large[1], {"v1": small[1]}, logging={"feedbackLog": str(fb)})
    with running_router(doc, tmp_path) as r:
        raw = r.openai().chat.completions.with_raw_response.create(model="hybrid", messages=SIMPLE)
        rid = raw.headers["x-hybridroute-request-id"]
        ok = httpx.post(
            f"{r.url}/v1/feedback", json={"request_id": rid, "score": 0.25, "comment": "too vague"}
        )
        bad = httpx.post(f"{r.url}/v1/feedback", json={"request_id": rid, "score": 7})
        (record,) = wait_for(lambda: _log(fb))
    assert ok.status_code == 202
    assert ok.json()["logged"] is True
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "score"
    assert record["kind"] == "user"
    assert record["request_id"] == rid
    assert record["score"] == 0.25
    assert record["comment"] == "too vague"
    assert record["model"] == "small"
    assert record["version"] == "v1"


def test_feedback_needs_the_bearer_token_when_one_is_configured(
    tmp_path: Path, large: Any, small: Any
) -> None:
    fb = tmp_path / "feedback.jsonl"
    token = tmp_path / "feedback.token"
    token.write_text("s3cret-feedback-token\n")
    doc = policy_doc(large[1], {"v1": small[1]}, logging={"feedbackLog": str(fb)})
    item = {"request_id": "some-id", "score": 1}
    with running_router(doc, tmp_path, "--feedback-token-file", str(token)) as r:
        anonymous = httpx.post(f"{r.url}/v1/feedback", json=item)
        wrong = httpx.post(
            f"{r.url}/v1/feedback", json=item, headers={"authorization": "Bearer nope"}
        )
        right = httpx.post(
            f"{r.url}/v1/feedback",
            json=item,
            headers={"authorization": "Bearer s3cret-feedback-token"},
        )
        (record,) = wait_for(lambda: _log(fb))
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.json()["error"]["code"] == "invalid_api_key"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 202
    assert record["request_id"] == "some-id"


def test_tokens_cost_and_energy_are_counted_from_upstream_usage(
    tmp_path: Path, large: Any, small: Any
) -> None:
    with running_router(policy_doc(large[1], {"v1": small[1]}), tmp_path) as r:
        r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        text = httpx.get(f"{r.url}/metrics").text
    # the small test server reports 10 prompt tokens and 3 completion tokens
    assert (
        'hybridroute_tokens_total{kind="prompt",model="small",route="test",version="v1"} 10.0'
        in text
    )
    assert (
        'hybridroute_tokens_total{kind="completion",model="small",route="test",version="v1"} 3.0'
        in text
    )
    cost = (10 * 0.001 + 3 * 0.002) / 1000
    energy = 13 * 300 / 1000
    assert f'hybridroute_cost_usd_total{{model="small",route="test",version="v1"}} {cost!r}' in text
    assert (
        f'hybridroute_energy_joules_total{{model="small",route="test",version="v1"}} {energy!r}'
        in text
    )


def test_streamed_usage_is_counted(tmp_path: Path, large: Any, small: Any) -> None:
    with running_router(policy_doc(large[1], {"v1": small[1]}), tmp_path) as r:
        stream = r.openai().chat.completions.create(
            model="hybrid", messages=SIMPLE, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        text = httpx.get(f"{r.url}/metrics").text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 3
    assert (
        'hybridroute_requests_total{code="200",model="small",reason="complexity_below_threshold",'
        'route="test",version="v1"} 1.0'
    ) in text
    assert (
        'hybridroute_tokens_total{kind="completion",model="small",route="test",version="v1"} 3.0'
        in text
    )


def test_streamed_usage_split_across_network_chunks_is_counted(
    tmp_path: Path, large: Any, small: Any
) -> None:
    small[0].split_usage = True
    with running_router(policy_doc(large[1], {"v1": small[1]}), tmp_path) as r:
        stream = r.openai().chat.completions.create(
            model="hybrid", messages=SIMPLE, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        text = metrics_with(r.url, 'hybridroute_requests_total{code="200"')
    series = 'hybridroute_tokens_total{{kind="{}",model="small",route="test",version="v1"}}'
    assert chunks[-1].usage is not None
    assert f"{series.format('completion')} 3.0" in text
    assert f"{series.format('prompt')} 10.0" in text


def test_real_prometheus_scrapes_the_router_metrics(
    tmp_path: Path, large: Any, small: Any, prometheus_server: Any
) -> None:
    with running_router(policy_doc(large[1], {"v1": small[1]}), tmp_path) as r:
        client = r.openai()
        for _ in range(3):
            client.chat.completions.create(model="hybrid", messages=SIMPLE)
        prom = prometheus_server([f"127.0.0.1:{r.server.port}"], job="router")
        result = wait_for(
            lambda: prom.query(
                'sum by (model, version) (hybridroute_requests_total{route="test"})'
            ),
            timeout=60,
            interval=0.5,
        )
        threshold = wait_for(lambda: prom.query("hybridroute_policy_threshold"), timeout=60)
    assert result[0]["metric"] == {"model": "small", "version": "v1"}
    assert float(result[0]["value"][1]) == 3.0
    assert float(threshold[0]["value"][1]) == 0.5


def test_an_unwritable_log_path_never_stops_the_router(
    tmp_path: Path, large: Any, small: Any
) -> None:
    missing = str(tmp_path / "no-such-dir" / "feedback.jsonl")
    doc = policy_doc(large[1], {"v1": small[1]}, logging={"feedbackLog": missing})
    with running_router(doc, tmp_path) as r:
        answer = r.openai().chat.completions.create(model="hybrid", messages=SIMPLE)
        fb = httpx.post(f"{r.url}/v1/feedback", json={"request_id": "x-1", "score": 1})
        # and a reload to another unwritable path is applied, not fatal
        doc["logging"]["feedbackLog"] = str(tmp_path / "still-missing" / "fb.jsonl")
        r.write_policy(doc)
        wait_for(lambda: "still-missing" in str(r.rt.state.policy.logging.feedback_log))
        again = httpx.post(
            f"{r.url}/v1/chat/completions", json={"model": "hybrid", "messages": SIMPLE}
        )
    assert answer.choices[0].message.content == "small answer here"
    assert fb.status_code == 202
    assert fb.json()["logged"] is False  # says so rather than pretending
    assert again.status_code == 200
