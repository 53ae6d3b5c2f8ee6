"""status.savings against real parts: the local API server, the operator and router
processes, Debian's Prometheus scraping the router every second, replay model servers
and an OpenAI-API load generator. The savings loop measures every second
(``--savings-interval 1``); it writes status only when what a user sees changes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adaptation_harness import FilePrometheus, Load, running_prometheus
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.replay import Behaviour, ReplayServerProcess, start_replay_server
from operator_harness import (
    OperatorProcess,
    RouterProcess,
    apply,
    crd_namespace,
    get_json,
    metric_value,
    router_rolled_out,
    running_operator,
)

pytestmark = pytest.mark.integration
PROMPTS = ["What is 2+2?", "Name a colour."]
SAVINGS_OK = 'purpose="savings",result="ok"'
QUERIES = "hybridroute_operator_prometheus_queries_total"
RECONCILES = "hybridroute_operator_reconciles_total"
PER_EVALUATION = 3  # smallShare, costSavedPerHour, energySavedJoulesPerHour


@pytest.fixture(scope="module")
def namespace(cluster: ControlPlane) -> Iterator[str]:
    with crd_namespace(cluster, "savings") as name:
        yield name


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilePrometheus]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as prom:
        yield prom


@pytest.fixture(scope="module")
def models(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ReplayServerProcess, ReplayServerProcess]]:
    workdir = tmp_path_factory.mktemp("models")
    large = start_replay_server(workdir, Behaviour("large", capacity=16))
    small = start_replay_server(workdir, Behaviour("small", capacity=16))
    try:
        yield large, small
    finally:
        large.stop()
        small.stop()


@pytest.fixture(scope="module")
def operator(
    cluster: ControlPlane,
    namespace: str,
    prometheus: FilePrometheus,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    workdir = tmp_path_factory.mktemp("operator")
    extra = ("--prometheus-url", prometheus.url, "--savings-interval", "1")
    # no periodic reconcile during the test
    with running_operator(cluster, namespace, workdir, *extra, "--resync-seconds", "600") as proc:
        yield proc


def route_manifest(
    name: str, models: tuple[ReplayServerProcess, ReplayServerProcess], threshold: float
) -> dict[str, Any]:
    large, small = models
    return {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": name},
        "spec": {
            "large": {"model": "replay-large", "endpoint": {"url": large.base_url}},
            "small": {
                "model": "replay-small",
                "versions": [{"name": "v1", "endpoint": {"url": small.base_url}}],
            },
            "policy": {"complexity": {"threshold": threshold}},
            "router": {"replicas": 1},
        },
    }


def route_object(plane: ControlPlane, namespace: str, route: str) -> dict[str, Any]:
    return get_json(plane, "hybridroute", route, "-n", namespace) or {}


def savings_of(plane: ControlPlane, namespace: str, route: str) -> dict[str, Any]:
    section: dict[str, Any] = (route_object(plane, namespace, route).get("status") or {}).get(
        "savings"
    ) or {}
    return section


def test_a_steady_reading_is_not_rewritten_and_a_changed_one_is(
    cluster: ControlPlane,
    namespace: str,
    prometheus: FilePrometheus,
    models: tuple[ReplayServerProcess, ReplayServerProcess],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    route = f"sav{uuid.uuid4().hex[:5]}"
    apply(cluster, namespace, route_manifest(route, models, threshold=1.0))  # all small
    eventually(
        lambda: get_json(cluster, "configmap", f"{route}-policy", "-n", namespace),
        "the policy ConfigMap (the router starts from it)",
        timeout=30,
    )
    router = RouterProcess(cluster.kubeconfig, f"{namespace}/{route}-policy", tmp_path).start()
    prometheus.add_target(router.url.removeprefix("http://"), namespace=namespace)
    load = Load(router.url, rate=4, prompts=PROMPTS, model=route).start()
    try:
        steady = eventually(
            lambda: (s := savings_of(cluster, namespace, route)).get("smallShare") == 1.0 and s,
            "savings measured: every answer from the small model",
            timeout=60,
        )
        assert steady["reason"] == "Measured"
        # the router Deployment's own rollout refreshes the route's status (debounced):
        # count from two evaluations after it, so what is counted is the loop's doing alone
        eventually(lambda: router_rolled_out(cluster, namespace, route), "router rolled out", 60)
        settled = metric_value(operator.metrics(), QUERIES, SAVINGS_OK) or 0
        eventually(
            lambda: (
                (metric_value(operator.metrics(), QUERIES, SAVINGS_OK) or 0)
                >= settled + 2 * PER_EVALUATION
            ),
            "two savings evaluations after the rollout",
            timeout=30,
        )
        version = route_object(cluster, namespace, route)["metadata"]["resourceVersion"]
        metrics = operator.metrics()
        queries = metric_value(metrics, QUERIES, SAVINGS_OK) or 0
        reconciles = metric_value(metrics, RECONCILES)
        # four more evaluations with the same reading (the loop's own query count)
        eventually(
            lambda: (
                (metric_value(operator.metrics(), QUERIES, SAVINGS_OK) or 0)
                >= queries + 4 * PER_EVALUATION
            ),
            "four more savings evaluations",
            timeout=30,
        )
        after = route_object(cluster, namespace, route)
        assert after["status"]["savings"] == steady
        assert after["metadata"]["resourceVersion"] == version, "a steady reading was rewritten"
        assert metric_value(operator.metrics(), RECONCILES) == reconciles, "reconciled for nothing"

        cluster.kubectl(
            "patch", "hybridroute", route, "-n", namespace, "--type=merge", "-p",
            json.dumps({"spec": {"policy": {"complexity": {"threshold": 0.0}}}}),
        )  # fmt: skip  # from now on every answer comes from the large model
        changed = eventually(
            lambda: (s := savings_of(cluster, namespace, route)).get("smallShare", 1.0) < 1.0 and s,
            "the falling small share written",
            timeout=60,
        )
        assert changed["reason"] == "Measured"
        assert changed["time"] > steady["time"]
    finally:
        load.stop()
        router.stop()
    assert set(load.counts) <= {"200:replay-large", "200:replay-small"}, load.counts
