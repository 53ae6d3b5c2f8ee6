"""The adaptation and savings loops without any Prometheus configured (no spec URL, no
--prometheus-url): a reason of their own, the last threshold held, no number invented.
The loops run for real; the API client is never reached in this case (no Secret to
read), so it is an unused placeholder."""

from __future__ import annotations

from typing import Any, cast

import pytest
from hybridroute_operator.api.spec import parse_spec
from hybridroute_operator.kube import KubeApi
from hybridroute_operator.loops import LoopEnv, LoopInput
from hybridroute_operator.loops.adaptation import AdaptationLoop
from hybridroute_operator.loops.savings import SavingsLoop
from hybridroute_operator.metrics import OperatorMetrics
from hybridroute_operator.prom import PrometheusPool
from hybridroute_operator.render import RouteRef
from prometheus_client import generate_latest

pytestmark = pytest.mark.unit
SPEC: dict[str, Any] = {
    "large": {"model": "l", "endpoint": {"url": "http://large.example/v1"}},
    "small": {"model": "s", "versions": [{"name": "v1", "endpoint": {"url": "http://s/v1"}}]},
    "adaptation": {"signals": {"queueDepth": {"target": 4}}},
}


def env() -> LoopEnv:
    unused_kube = cast(KubeApi, object())
    return LoopEnv(kube=unused_kube, metrics=OperatorMetrics(), prometheus=PrometheusPool())


def inp(status: dict[str, Any]) -> LoopInput:
    ref = RouteRef(name="r", namespace="n", uid="u", generation=1)
    return LoopInput(ref=ref, spec=parse_spec(SPEC), status=status, now=1_700_000_000.0)


async def test_adaptation_without_prometheus_holds_with_its_own_reason() -> None:
    status = {"adaptation": {"effectiveThreshold": 0.65, "lastChangeTime": "2023-11-14T22:00:00Z"}}
    out = await AdaptationLoop().evaluate(inp(status), env())
    assert out.section is not None
    assert out.section["effectiveThreshold"] == 0.65
    assert out.section["reason"] == "PrometheusNotConfigured"
    (cond,) = out.conditions
    assert (cond.type, cond.ok, cond.reason) == ("LoadAdapted", False, "PrometheusNotConfigured")
    assert "--prometheus-url" in cond.message
    assert out.events == ()


async def test_savings_without_prometheus_are_empty_with_a_reason() -> None:
    out = await SavingsLoop().evaluate(inp({}), env())
    assert out.section is not None
    assert out.section["reason"] == "PrometheusNotConfigured"
    assert "--prometheus-url" in out.section["message"]
    assert "smallShare" not in out.section
    assert "costSavedPerHour" not in out.section


def test_a_deleted_route_or_switched_off_loop_leaves_no_adaptation_series() -> None:
    metrics = OperatorMetrics()
    for route in ("a", "b"):
        metrics.effective_threshold.labels(namespace="n", route=route).set(0.6)
        metrics.threshold_at_bound.labels(namespace="n", route=route).set(1)
    metrics.forget_route("n", "a", loop="adaptation")
    metrics.forget_route("n", "b")
    metrics.forget_route("n", "never-seen")
    text = generate_latest(metrics.registry).decode()
    assert 'route="a"' not in text
    assert 'route="b"' not in text
