"""Canary analysis (pure): the PromQL it asks for, how readings become pass / fail /
inconclusive, discovery from Deployments, and how status.canary reaches the policy."""

from __future__ import annotations

from typing import Any

import pytest
from hybridroute_operator.api.spec import CanarySpec, parse_spec
from hybridroute_operator.canary import (
    Failure,
    Target,
    build_world,
    discover,
    evaluate,
    label_selector,
    queries,
)
from hybridroute_operator.controls import controls_from_status, effective_spec
from hybridroute_operator.observed import Observed
from hybridroute_operator.reconcile import replacing
from hybridroute_operator.render import RouteRef, build_policy

pytestmark = pytest.mark.unit

TARGET = Target("support", "llm", "v5", "v4", 120)
GOOD = {
    "requests": 200.0,
    "errors": 0.0,
    "shadow_agree": 45.0,
    "shadow_disagree": 5.0,
    "p99": 0.4,
    "stable_p99": 0.35,
}


LATENCY = {
    "shadowAgreement": {"min": 0.8},
    "errorRate": {},
    "p99Latency": {"maxRatioToStable": 1.5},
}


def canary(**fields: Any) -> CanarySpec:
    return CanarySpec.model_validate({"checks": LATENCY, **fields})


def test_built_in_queries_match_route_namespace_and_version_over_the_step_window() -> None:
    q = queries(canary(), TARGET)
    assert set(q) == {"requests", "errors", "shadow_agree", "shadow_disagree", "p99", "stable_p99"}
    assert q["requests"] == (
        "sum(increase(hybridroute_upstream_duration_seconds_count"
        '{route="support",namespace="llm",version="v5",model="small"}[120s]))'
    )
    assert q["errors"].endswith(" or vector(0)")  # no error yet is a zero, not no data
    assert 'version="v4"' in q["stable_p99"]
    no_ns = queries(canary(namespaceLabel=""), TARGET)
    assert "namespace=" not in no_ns["requests"]


def test_custom_checks_fill_placeholders_and_escape_label_values() -> None:
    spec = canary(
        checks={
            **LATENCY,
            "custom": [
                {
                    "name": "tokens",
                    "query": 'sum(rate(x{route="{route}",version="{version}"}[{window}]))',
                    "max": 5,
                }
            ],
        }
    )
    q = queries(spec, Target('a"b', "llm", "v5", "v4", 30))
    assert q["custom:tokens"] == 'sum(rate(x{route="a\\"b",version="v5"}[30s]))'


def test_a_healthy_candidate_passes_and_each_value_is_reported_with_its_threshold() -> None:
    a = evaluate(canary(), GOOD)
    assert a.outcome == "pass"
    by_name = {c.name: c for c in a.checks}
    assert by_name["shadowAgreement"].value == pytest.approx(0.9)
    assert by_name["p99LatencyToStable"].threshold == pytest.approx(0.525)


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"errors": 30.0}, "errorRate"),
        ({"shadow_agree": 10.0, "shadow_disagree": 40.0}, "shadowAgreement"),
        ({"p99": 2.0}, "p99LatencyToStable"),
    ],
)
def test_each_bad_reading_fails_its_check(changes: dict[str, float], failing: str) -> None:
    a = evaluate(canary(), {**GOOD, **changes})
    assert a.outcome == "fail"
    assert [c.name for c in a.deciding()] == [failing]


@pytest.mark.parametrize(
    "changes",
    [
        {"requests": 10.0},  # fewer than minRequests (50)
        {"requests": Failure("no_data", "the query returned no series")},
        {"shadow_agree": 3.0, "shadow_disagree": 1.0},  # fewer than 10 comparisons
        {"stable_p99": Failure("error", "bad_data: parse error")},
    ],
)
def test_too_little_data_or_a_failed_query_is_inconclusive_never_a_pass(
    changes: dict[str, Any],
) -> None:
    a = evaluate(canary(), {**GOOD, **changes})
    assert a.outcome == "inconclusive"


def test_too_few_requests_is_inconclusive_even_when_a_check_fails() -> None:
    a = evaluate(canary(), {**GOOD, "requests": 10.0, "errors": 10.0})
    assert a.outcome == "inconclusive"
    assert a.checks[0].name == "requests"
    assert "10 calls, fewer than 50" in a.checks[0].message


def test_dry_run_checks_are_reported_but_never_decide() -> None:
    spec = canary(checks={**LATENCY, "errorRate": {"max": 0.01, "dryRun": True}})
    a = evaluate(spec, {**GOOD, "errors": 100.0})
    assert a.outcome == "pass"
    error = next(c for c in a.checks if c.name == "errorRate")
    assert (error.result, error.dry_run) == ("fail", True)


def test_the_error_of_a_failed_query_is_kept_in_the_check_message() -> None:
    a = evaluate(canary(), {**GOOD, "p99": Failure("error", "bad_data: 1:5 parse error")})
    p99 = next(c for c in a.checks if c.name == "p99LatencyToStable")
    assert p99.result == "inconclusive"
    assert "parse error" in p99.message


def test_relative_escalation_and_feedback_checks() -> None:
    spec = canary(
        checks={
            **LATENCY,
            "escalationRate": {"maxRatioToStable": 1.2},
            "feedbackScore": {"minRatioToStable": 0.9, "minSamples": 5},
        }
    )
    readings = {
        **GOOD,
        "stable_requests": 1000.0,
        "escalations": 40.0,  # 0.2 per call
        "stable_escalations": 100.0,  # 0.1 per call
        "feedback_sum": 8.0,
        "feedback_count": 10.0,
        "stable_feedback_sum": 90.0,
        "stable_feedback_count": 100.0,
    }
    a = evaluate(spec, readings)
    result = {c.name: c.result for c in a.checks}
    assert result["escalationRateToStable"] == "fail"
    assert result["feedbackScoreToStable"] == "fail"  # 0.8 < 0.9 x 0.9
    assert a.outcome == "fail"


def deployment(name: str, labels: dict[str, str], ready: int, created: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": created},
        "status": {"readyReplicas": ready},
    }


def test_discovery_orders_versions_by_creation_and_ignores_bad_names() -> None:
    spec = parse_spec(ROUTE)
    assert spec.small.discovery is not None
    assert label_selector(spec.small.discovery) == "app=student,version"
    found, ignored = discover(
        spec.small.discovery,
        [
            deployment("s6", {"app": "student", "version": "v6"}, 0, "2026-01-03T00:00:00Z"),
            deployment("s5", {"app": "student", "version": "v5"}, 1, "2026-01-02T00:00:00Z"),
            deployment("sx", {"app": "student", "version": "Not_DNS"}, 1, "2026-01-02T00:00:00Z"),
            deployment("other", {"app": "other", "version": "v9"}, 1, "2026-01-02T00:00:00Z"),
        ],
    )
    assert [(d.name, d.ready) for d in found] == [("v5", True), ("v6", False)]
    assert found[0].selector == {"app": "student", "version": "v5"}
    assert len(ignored) == 1
    assert "Not_DNS" in ignored[0]
    world = build_world(spec, {"versions": [{"name": "v4", "ready": True}]}, found, {})
    assert [(v.name, v.ready, v.discovered) for v in world.versions] == [
        ("v4", True, False),
        ("v5", True, True),
        ("v6", False, True),
    ]


ROUTE: dict[str, Any] = {
    "large": {"model": "big", "endpoint": {"service": "big", "port": 8000}},
    "small": {
        "model": "student",
        "versions": [
            {
                "name": "v4",
                "endpoint": {"selector": {"app": "student", "version": "v4"}, "port": 8000},
            }
        ],
        "discovery": {"selector": {"app": "student"}, "port": 8000},
    },
    "canary": {},
}


def test_status_canary_reaches_the_policy_weights_discovered_versions_and_shadow() -> None:
    spec = parse_spec(ROUTE)
    status = {
        "canary": {
            "weights": {"v4": 90, "v5": 10},
            "discovered": [
                {"name": "v5", "selector": {"app": "student", "version": "v5"}, "port": 8000}
            ],
            "shadowPercent": {"v5": 25},
        }
    }
    effective = effective_spec(spec, controls_from_status(spec, status))
    policy = build_policy(RouteRef("support", "llm", "uid"), effective, Observed())
    versions = {v.name: v for v in policy.small.versions}
    assert {n: v.weight for n, v in versions.items()} == {"v4": 90, "v5": 10}
    assert versions["v5"].shadow_percent == 25
    assert versions["v4"].shadow_percent is None
    assert versions["v5"].upstream.base_url == "http://support-small-v5.llm.svc:8000/v1"
    assert not versions["v5"].ready  # no EndpointSlice seen yet: never routed


def test_status_canary_is_ignored_when_the_spec_has_no_canary() -> None:
    spec = parse_spec({k: v for k, v in ROUTE.items() if k != "canary"})
    status = {"canary": {"weights": {"v4": 0, "v5": 100}, "shadowPercent": {"v4": 50}}}
    assert effective_spec(spec, controls_from_status(spec, status)) == spec


def test_a_version_dropped_from_the_weights_is_deleted_by_the_status_merge_patch() -> None:
    old = {"phase": "Progressing", "weights": {"v1": 90, "v2": 10}, "shadowPercent": {"v2": 25}}
    new = {"phase": "RolledBack", "weights": {"v1": 100}}
    assert replacing(old, new) == {
        "phase": "RolledBack",
        "weights": {"v1": 100, "v2": None},
        "shadowPercent": None,
    }
    assert replacing(None, new) == new
    assert replacing({"weights": {"v2": None}}, new) == new  # already deleted: nothing to add


def test_canary_gauges_of_a_route_are_dropped_when_it_is_forgotten() -> None:
    from hybridroute_operator.metrics import OperatorMetrics
    from prometheus_client import generate_latest

    m = OperatorMetrics()
    m.canary.set("llm", "support", "Progressing", ("Idle", "Progressing"), {"v1": 95, "v2": 5})
    text = generate_latest(m.registry).decode()
    assert (
        'hybridroute_operator_canary_weight{namespace="llm",route="support",version="v2"} 5.0'
        in text
    )
    m.forget_route("llm", "support", loop="canary")
    text = generate_latest(m.registry).decode()
    assert 'route="support"' not in text


@pytest.mark.parametrize(
    ("escalations", "stable_escalations", "result"),
    [
        (1.0, 0.0, "pass"),  # one escalation where the stable had none in its window
        (4.0, 30.0, "pass"),  # 0.067 vs 0.05 x 1.3: within the noise of 60 calls
        (15.0, 30.0, "fail"),  # 0.25 vs 0.05: five times the stable's rate
        (20.0, 0.0, "fail"),  # a third of the calls escalated, none of the stable's
    ],
)
def test_escalation_relative_to_stable_allows_for_sampling_noise(
    escalations: float, stable_escalations: float, result: str
) -> None:
    spec = canary(checks={**LATENCY, "escalationRate": {"maxRatioToStable": 1.3}})
    readings = {
        **GOOD,
        "requests": 60.0,
        "stable_requests": 600.0,
        "escalations": escalations,
        "stable_escalations": stable_escalations,
    }
    check = next(c for c in evaluate(spec, readings).checks if c.name == "escalationRateToStable")
    assert check.result == result, check
    assert "x stable" in check.message
