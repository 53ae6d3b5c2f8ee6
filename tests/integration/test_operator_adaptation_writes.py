"""status.adaptation against real parts (the local API server, the operator process,
Debian's Prometheus): an evaluation every second, but a status write only when what a
user sees changes. Writes are counted by the HybridRoute's resourceVersion, evaluations
and reconciles by the operator's own metrics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from adaptation_harness import FilePrometheus, adaptation_of, running_prometheus
from hybridroute_localstack import ControlPlane, eventually
from operator_harness import (
    OperatorProcess,
    apply,
    crd_namespace,
    get_json,
    metric_value,
    router_rolled_out,
    running_operator,
)

pytestmark = pytest.mark.integration
EVALUATIONS = "hybridroute_operator_loop_evaluations_total"
RECONCILES = "hybridroute_operator_reconciles_total"
STEADY_EVALUATIONS = 4
LOOPS = ("adaptation", "savings")


@pytest.fixture(scope="module")
def namespace(cluster: ControlPlane) -> Iterator[str]:
    with crd_namespace(cluster, "adwrite") as name:
        yield name


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilePrometheus]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as prom:
        yield prom


@pytest.fixture(scope="module")
def operator(
    cluster: ControlPlane,
    namespace: str,
    prometheus: FilePrometheus,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    workdir = tmp_path_factory.mktemp("operator")
    extra = ("--prometheus-url", prometheus.url, "--resync-seconds", "600")  # no resync
    with running_operator(cluster, namespace, workdir, *extra) as proc:
        yield proc


def route_manifest(name: str, query: str) -> dict[str, Any]:
    """Adaptation every second on one signal; no model is called (no router runs)."""
    endpoint = {"url": "http://127.0.0.1:9/v1"}
    return {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": name},
        "spec": {
            "large": {"model": "large", "endpoint": endpoint},
            "small": {"model": "small", "versions": [{"name": "v1", "endpoint": endpoint}]},
            "policy": {"complexity": {"threshold": 0.3}},
            "router": {"replicas": 1},
            "adaptation": {
                "interval": "1s",
                "threshold": {"min": 0.3, "max": 0.9, "maxStep": 0.02, "cooldown": "2s"},
                "signals": {"queueDepth": {"target": 4, "query": query}},
            },
        },
    }


def evaluations(operator: OperatorProcess, namespace: str, route: str, loop: str) -> float:
    labels = f'loop="{loop}",namespace="{namespace}",route="{route}"'
    return metric_value(operator.metrics(), EVALUATIONS, labels) or 0.0


def reading(section: dict[str, Any]) -> float | None:
    readings = section.get("readings") or [{}]
    value = readings[0].get("value")
    return float(value) if isinstance(value, int | float) else None


def test_steady_readings_are_not_rewritten_and_a_changed_reading_is(
    cluster: ControlPlane,
    namespace: str,
    prometheus: FilePrometheus,
    operator: OperatorProcess,
) -> None:
    route = f"wr{uuid.uuid4().hex[:5]}"
    # 0 until Prometheus scrapes a target labelled probe=<route>, then 1: a reading that
    # changes while the spec does not
    apply(cluster, namespace, route_manifest(route, f'sum(up{{probe="{route}"}}) or vector(0)'))
    steady = eventually(
        lambda: (
            (s := adaptation_of(cluster, namespace, route)).get("reason") == "AtBaseline"
            and reading(s) == 0.0
            and s
        ),
        "adaptation evaluated: queueDepth 0, at the baseline",
        timeout=60,
    )
    assert steady["effectiveThreshold"] == 0.3
    assert "lastEvaluationTime" not in steady
    # the router Deployment's own rollout refreshes the route's status (debounced): count
    # from two evaluations after it, so what is counted is the loops' doing alone
    eventually(lambda: router_rolled_out(cluster, namespace, route), "router rolled out", 60)
    settled = {loop: evaluations(operator, namespace, route, loop) for loop in LOOPS}
    eventually(
        lambda: all(
            evaluations(operator, namespace, route, name) >= count + 2
            for name, count in settled.items()
        ),
        "two evaluations after the rollout",
        timeout=30,
    )
    obj = get_json(cluster, "hybridroute", route, "-n", namespace) or {}
    version = obj["metadata"]["resourceVersion"]
    savings = (obj.get("status") or {}).get("savings")
    assert savings is not None  # measured at the adaptation interval too: it must hold still
    reconciles = metric_value(operator.metrics(), RECONCILES)
    start = {loop: evaluations(operator, namespace, route, loop) for loop in LOOPS}
    versions = {version}

    def steady_evaluations() -> bool:
        seen = get_json(cluster, "hybridroute", route, "-n", namespace) or {}
        versions.add(seen["metadata"]["resourceVersion"])
        return all(
            evaluations(operator, namespace, route, loop) >= count + STEADY_EVALUATIONS
            for loop, count in start.items()
        )

    eventually(steady_evaluations, f"{STEADY_EVALUATIONS} more evaluations", timeout=30)
    after = get_json(cluster, "hybridroute", route, "-n", namespace) or {}
    versions.add(after["metadata"]["resourceVersion"])
    assert len(versions) == 1, (
        f"{len(versions) - 1} status writes in {STEADY_EVALUATIONS}+ steady evaluations"
    )
    assert after["status"]["adaptation"] == steady
    assert metric_value(operator.metrics(), RECONCILES) == reconciles, "reconciled for nothing"

    prometheus.add_target(prometheus.url.removeprefix("http://"), probe=route)
    changed = eventually(
        lambda: reading(s := adaptation_of(cluster, namespace, route)) == 1.0 and s,
        "the changed reading written",
        timeout=30,
    )
    assert changed["reason"] == "AtBaseline"  # 1 of 4: still nothing to do
    assert changed["effectiveThreshold"] == 0.3
    assert "queueDepth 1 (target 4)" in changed["message"]
    assert changed["lastUpdateTime"] > steady["lastUpdateTime"]
    now = get_json(cluster, "hybridroute", route, "-n", namespace) or {}
    assert now["metadata"]["resourceVersion"] != version
    cluster.kubectl("delete", "hybridroute", route, "-n", namespace, "--wait=false")
