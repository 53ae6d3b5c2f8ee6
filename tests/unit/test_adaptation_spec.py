"""spec.adaptation: defaults, contradictions rejected with readable messages (pydantic;
the same rules are CEL in the CRD), the queries and status a spec leads to."""

from __future__ import annotations

from typing import Any

import pytest
from hybridroute_operator.adaptation.law import Previous, Reading, Result, Why
from hybridroute_operator.adaptation.queries import bounds_for, render_query, signal_queries
from hybridroute_operator.adaptation.report import events, previous_from, section
from hybridroute_operator.api.spec import SpecError, parse_spec
from hybridroute_operator.crdgen import build_crd

pytestmark = pytest.mark.unit
BASE: dict[str, Any] = {
    "large": {"model": "llama-70b", "endpoint": {"url": "http://large.example/v1"}},
    "small": {"model": "s", "versions": [{"name": "v1", "endpoint": {"url": "http://s/v1"}}]},
}


def spec_with(adaptation: dict[str, Any], threshold: float = 0.5) -> Any:
    return parse_spec(
        {**BASE, "policy": {"complexity": {"threshold": threshold}}, "adaptation": adaptation}
    )


@pytest.mark.parametrize(
    ("adaptation", "threshold", "message"),
    [
        ({}, 0.5, "adaptation needs at least one of signals.queueDepth"),
        (
            {"signals": {"queueDepth": {"target": 4}}, "threshold": {"min": 0.7, "max": 0.6}},
            0.5,
            "adaptation.threshold.min must be <= adaptation.threshold.max",
        ),
        (
            {"signals": {"queueDepth": {"target": 4}}, "threshold": {"min": 0.6}},
            0.5,
            "policy.complexity.threshold (the baseline) must lie within adaptation.threshold",
        ),
        (
            {"signals": {"queueDepth": {"target": 4}}, "threshold": {"maxStep": 0}},
            0.5,
            "maxStep: Input should be greater than 0",
        ),
        ({"budget": {}}, 0.5, "adaptation.budget needs maxCostPerHour or maxLargeShare"),
        ({"signals": {"queueDepth": {"target": 0}}}, 0.5, "target: Input should be greater"),
        ({"signals": {"queueDepth": {"target": 4}}, "interval": "30"}, 0.5, "should match"),
    ],
)
def test_contradictions_are_rejected_with_a_readable_message(
    adaptation: dict[str, Any], threshold: float, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        spec_with(adaptation, threshold)
    assert message in str(caught.value)


def test_the_crd_carries_the_same_rules_as_cel() -> None:
    text = str(build_crd())
    for message in (
        "adaptation.threshold.min must be <= adaptation.threshold.max",
        "policy.complexity.threshold (the baseline) must lie within adaptation.threshold",
        "adaptation.budget needs maxCostPerHour or maxLargeShare",
        "adaptation needs at least one of signals.queueDepth",
    ):
        assert message in text


def test_defaults_and_default_queries_for_vllm() -> None:
    spec = spec_with(
        {
            "signals": {"queueDepth": {"target": 4}, "p99Latency": {"target": 2}},
            "budget": {"maxCostPerHour": 10},
        }
    )
    a = spec.adaptation
    assert a.interval == "30s"
    assert a.threshold.max_step == 0.05
    assert a.threshold.cooldown == "2m"
    b = bounds_for(spec, a)
    assert (b.baseline, b.min, b.max, b.stale_after, b.cooldown) == (0.5, 0.0, 0.9, 60, 120)
    queries = signal_queries(a)
    assert [q.signal for q in queries] == ["queueDepth", "p99Latency", "costPerHour"]
    q = render_query(spec, queries[0], "support", "llm")
    assert q == 'sum(vllm:num_requests_waiting{model_name="llama-70b"})'
    p99 = render_query(spec, queries[1], "support", "llm")
    assert 'namespace="llm",route="support",model="large"' in p99
    assert "[2m]" in p99
    cost = render_query(spec, queries[2], "support", "llm")
    assert cost.endswith("[15m])) * 3600")


def test_a_users_query_replaces_the_default_with_placeholders_filled() -> None:
    spec = spec_with(
        {"signals": {"queueDepth": {"target": 4, "query": 'sum(tgi_queue_size{svc="{route}"})'}}}
    )
    (query,) = signal_queries(spec.adaptation)
    assert render_query(spec, query, "r", "n") == 'sum(tgi_queue_size{svc="r"})'


def test_an_empty_namespace_label_matches_the_route_only() -> None:
    spec = spec_with({"namespaceLabel": "", "signals": {"errorRate": {"target": 0.05}}})
    (query,) = signal_queries(spec.adaptation)
    promql = render_query(spec, query, "r", "n")
    assert 'hybridroute_upstream_duration_seconds_count{route="r",model="large"' in promql
    assert "namespace" not in promql


def test_status_section_keeps_readings_and_the_last_change() -> None:
    reading = Reading("queueDepth", 4.0, 9.0123, 1_700_000_000.0)
    result = Result(0.55, Why.RELIEVING, "queueDepth 9.01 (target 4): 0.5 -> 0.55", reading)
    out = section(result, [reading], Previous(0.5, None), 0.5, 1_700_000_001.0)
    assert out["effectiveThreshold"] == 0.55
    assert out["baselineThreshold"] == 0.5
    # as kubectl shows it: three significant digits, no per-evaluation sample time
    assert out["readings"] == [{"signal": "queueDepth", "target": 4.0, "value": 9.01}]
    assert out["lastChangeTime"] == "2023-11-14T22:13:21Z"
    assert out["lastUpdateTime"] == "2023-11-14T22:13:21Z"
    assert "lastEvaluationTime" not in out
    assert "lastPressureTime" not in out  # no pressure has ended yet
    back = previous_from(out)
    assert back.threshold == 0.55
    assert back.last_change == 1_700_000_001.0
    assert back.pressured  # RelievingPressure
    (event,) = events(result, [reading], Previous(0.5, None), 0.5)
    assert "0.5 -> 0.55" in event.message
    assert "queueDepth 9.01 (target 4)" in event.message
    assert events(result, [reading], Previous(0.55, None), 0.5) == []


def test_docs_metrics_lists_exactly_the_queries_the_operator_runs() -> None:
    from pathlib import Path

    from hybridroute_operator.savings import queries as savings_queries
    from hybridroute_operator.savings import settings_for

    text = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()
    documented = " ".join(text.split("## Queries the operator uses", 1)[1].split())
    spec = parse_spec(
        {
            **BASE,
            "large": {"model": "llama-70b", "endpoint": {"url": "http://l/v1"}},
            "adaptation": {
                "signals": {s: {"target": 1} for s in ("queueDepth", "kvCache", "p99Latency")}
                | {"errorRate": {"target": 0.1}},
                "budget": {"maxCostPerHour": 5, "maxLargeShare": 0.5},
            },
        }
    )
    for query in signal_queries(spec.adaptation):
        assert render_query(spec, query, "support", "llm") in documented, query.signal
    for promql in savings_queries(settings_for(parse_spec(BASE)), "support", "llm").values():
        assert promql in documented
