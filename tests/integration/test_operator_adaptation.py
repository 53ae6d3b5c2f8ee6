"""Load adaptation against real parts: the local API server, the operator and router
processes, Debian's Prometheus scraping them every second, replay model servers whose
vLLM-style queue grows with the load they get (hybridroute_localstack.replay), and an
open-loop OpenAI-API load generator. Intervals are 1-2 s so each test takes seconds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adaptation_harness import (
    FilePrometheus,
    Load,
    adaptation_of,
    events_of,
    running_prometheus,
    threshold_of,
)
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.replay import Behaviour, ReplayServerProcess, start_replay_server
from operator_harness import (
    OperatorProcess,
    RouterProcess,
    apply,
    condition,
    crd_namespace,
    get_json,
    metric_value,
    patch_spec,
    running_operator,
)

pytestmark = pytest.mark.integration
EVALUATIONS = "hybridroute_operator_loop_evaluations_total"
# heuristic complexity ~0.36 each: large at the 0.3 baseline, small once the threshold
# passes them
PROMPTS = [
    "Write a python function def f(x): return x**2 and explain",
    "What is 2+2? And why? Also what is 3+3?",
]


@pytest.fixture(scope="module")
def namespace(cluster: ControlPlane) -> Iterator[str]:
    with crd_namespace(cluster, "adapt") as name:
        yield name


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilePrometheus]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus")) as prom:
        yield prom


@pytest.fixture(scope="module")
def models(
    prometheus: FilePrometheus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ReplayServerProcess, ReplayServerProcess]]:
    workdir = tmp_path_factory.mktemp("models")
    large = start_replay_server(workdir, Behaviour("large", capacity=2, ms_per_token=10))
    small = start_replay_server(workdir, Behaviour("small", capacity=64))
    prometheus.add_target(large.address, role="large")
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
    with running_operator(cluster, namespace, workdir, "--prometheus-url", prometheus.url) as proc:
        yield proc


def route_manifest(
    name: str,
    models: tuple[ReplayServerProcess, ReplayServerProcess],
    adaptation: dict[str, Any],
    threshold: float = 0.3,
) -> dict[str, Any]:
    large, small = models
    return {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": name},
        "spec": {
            "large": {
                "model": "replay-large",
                "endpoint": {"url": large.base_url},
                "pricing": {"inputPer1kTokens": 0.5, "outputPer1kTokens": 1.5},
            },
            "small": {
                "model": "replay-small",
                "versions": [{"name": "v1", "endpoint": {"url": small.base_url}}],
                "pricing": {"inputPer1kTokens": 0.01, "outputPer1kTokens": 0.03},
            },
            "policy": {
                # PROMPTS and the thresholds are chosen on the heuristic's scale
                "complexity": {"threshold": threshold, "scorer": "heuristic"},
                "tiers": {"header": "x-hybridroute-tier", "trustHeader": True},
            },
            "router": {"replicas": 1},
            "adaptation": adaptation,
        },
    }


def constant(value: float, **extra: Any) -> dict[str, Any]:
    """An adaptation whose one signal is a constant PromQL vector (pressure value/1)."""
    return {
        "interval": "1s",
        "threshold": {"min": 0.3, "max": 0.9, "maxStep": 0.02, "cooldown": "2s"},
        "signals": {"queueDepth": {"target": 1, "query": f"vector({value})"}},
        **extra,
    }


def savings_of(plane: ControlPlane, namespace: str, route: str) -> dict[str, Any]:
    obj = get_json(plane, "hybridroute", route, "-n", namespace) or {}
    section: dict[str, Any] = (obj.get("status") or {}).get("savings") or {}
    return section


def evaluations(operator: OperatorProcess, namespace: str, route: str) -> float:
    """The route's adaptation evaluations so far, as the operator counts them (status is
    written only when what it shows changes, so it is no evaluation counter)."""
    labels = f'loop="adaptation",namespace="{namespace}",route="{route}"'
    return metric_value(operator.metrics(), EVALUATIONS, labels) or 0.0


def load_adapted(plane: ControlPlane, namespace: str, route: str) -> dict[str, Any] | None:
    return condition(get_json(plane, "hybridroute", route, "-n", namespace), "LoadAdapted")


def test_contradictory_bounds_are_rejected_by_the_api_server(
    cluster: ControlPlane,
    namespace: str,
    models: tuple[ReplayServerProcess, ReplayServerProcess],
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"threshold": {"min": 0.8, "max": 0.6}}, "adaptation.threshold.min must be <= "),
        ({"threshold": {"maxStep": 0}}, "maxStep in body should be greater than 0"),
        ({"threshold": {"min": 0.4, "max": 0.9}}, "(the baseline) must lie within adaptation"),
        ({"signals": {}}, "adaptation needs at least one of signals.queueDepth"),
        ({"budget": {"window": "5m"}}, "adaptation.budget needs maxCostPerHour or maxLargeShare"),
        (
            {"prometheus": {"url": "http://admin:pw@prometheus:9090"}},
            "prometheus.url must not carry credentials",
        ),
    ]
    for change, message in cases:
        adaptation = {"signals": {"queueDepth": {"target": 4}}, **change}
        result = apply(cluster, namespace, route_manifest("bad", models, adaptation), check=False)
        assert result.returncode != 0, message
        assert message in result.stderr, result.stderr


def test_saturation_raises_the_threshold_and_load_removal_returns_it_to_baseline(
    cluster: ControlPlane,
    namespace: str,
    prometheus: FilePrometheus,
    models: tuple[ReplayServerProcess, ReplayServerProcess],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    route = f"sat{uuid.uuid4().hex[:5]}"
    adaptation = {
        "interval": "1s",
        "window": "5s",
        "threshold": {"min": 0.3, "max": 0.6, "maxStep": 0.05, "cooldown": "3s"},
        "signals": {"queueDepth": {"target": 2}, "p99Latency": {"target": 30}},
    }
    apply(cluster, namespace, route_manifest(route, models, adaptation))
    router = RouterProcess(cluster.kubeconfig, f"{namespace}/{route}-policy", tmp_path).start()
    prometheus.add_target(router.url.removeprefix("http://"), namespace=namespace)
    waiting = 'sum(vllm:num_requests_waiting{model_name="replay-large"})'
    load = Load(router.url, rate=14, prompts=PROMPTS, model=route).start()
    try:
        eventually(lambda: (prometheus.value(waiting) or 0) > 2, "large queue over 2", 30)
        eventually(
            lambda: (threshold_of(cluster, namespace, route) or 0) > 0.3,
            "threshold raised",
            timeout=20,
        )
        eventually(lambda: (router.threshold(route) or 0) > 0.3, "router follows", timeout=20)
        eventually(
            lambda: (
                (threshold_of(cluster, namespace, route) or 0) > 0.3
                and prometheus.value(waiting) == 0
            ),
            "large queue drained while the threshold is raised",
            timeout=30,
        )
        changes = events_of(cluster, namespace, route, "ThresholdChanged")
        assert any("queueDepth" in m and "p99Latency" in m for m in changes), changes
        section = adaptation_of(cluster, namespace, route)
        assert section["baselineThreshold"] == 0.3
        assert {r["signal"] for r in section["readings"]} == {"queueDepth", "p99Latency"}
        assert all(isinstance(r["value"], int | float) for r in section["readings"])
        metrics = operator.metrics()
        labels = f'namespace="{namespace}",route="{route}"'
        assert (
            metric_value(metrics, "hybridroute_operator_effective_threshold", labels) or 0
        ) > 0.3
        assert metric_value(metrics, "hybridroute_operator_adaptation_data_ok", labels) == 1
        share = eventually(lambda: savings_of(cluster, namespace, route).get("smallShare"), "share")
        assert 0 < share < 1
        row = cluster.kubectl("get", "hybridroute", route, "-n", namespace).stdout
        assert "SMALL SHARE" in row.upper()
    finally:
        load.stop()
    assert set(load.counts) <= {"200:replay-large", "200:replay-small"}, load.counts
    final = eventually(
        lambda: (s := adaptation_of(cluster, namespace, route)).get("reason") == "AtBaseline" and s,
        "threshold back at baseline",
        timeout=60,
    )
    assert final["effectiveThreshold"] == 0.3
    eventually(lambda: router.threshold(route) == 0.3, "router back at 0.3", timeout=20)
    found = load_adapted(cluster, namespace, route)
    assert found is not None
    assert found["status"] == "True"
    router.stop()
    router.stop()


def test_prometheus_stopped_holds_the_threshold_and_it_resumes_when_back(
    cluster: ControlPlane,
    namespace: str,
    prometheus: FilePrometheus,
    models: tuple[ReplayServerProcess, ReplayServerProcess],
    operator: OperatorProcess,
) -> None:
    route = f"prom{uuid.uuid4().hex[:5]}"
    apply(cluster, namespace, route_manifest(route, models, constant(2)))
    eventually(lambda: (threshold_of(cluster, namespace, route) or 0) >= 0.36, "climbing", 30)
    prometheus.stop()
    try:
        found = eventually(
            lambda: (
                (c := load_adapted(cluster, namespace, route))
                and c["reason"] == "PrometheusUnreachable"
                and c
            ),
            "condition says Prometheus is unreachable",
            timeout=20,
        )
        assert found["status"] == "False"
        assert prometheus.url.removeprefix("http://") in found["message"]
        held = threshold_of(cluster, namespace, route)
        start = evaluations(operator, namespace, route)
        eventually(  # evaluations go on (1 s interval), all holding
            lambda: evaluations(operator, namespace, route) >= start + 3,
            "three more evaluations",
        )
        assert threshold_of(cluster, namespace, route) == held
        assert (load_adapted(cluster, namespace, route) or {}).get("status") == "False"
        assert operator.running
    finally:
        prometheus.start()
    eventually(
        lambda: (load_adapted(cluster, namespace, route) or {}).get("status") == "True",
        "LoadAdapted True again",
        timeout=30,
    )
    eventually(
        lambda: (threshold_of(cluster, namespace, route) or 0) > (held or 1),
        "adaptation resumes",
        timeout=20,
    )


@pytest.mark.parametrize(
    ("query", "reason", "problem"),
    [
        ("sum(rate(", "QueryFailed", "bad_data"),
        ('sum(no_such_metric_anywhere{route="x"})', "NoData", "no series"),
        (
            'label_replace(vector(1), "pod", "a", "", "") or '
            'label_replace(vector(2), "pod", "b", "", "")',
            "AmbiguousQuery",
            "2 series",
        ),
    ],
)
def test_a_bad_query_is_a_condition_quoting_it_and_the_threshold_holds(
    cluster: ControlPlane,
    namespace: str,
    models: tuple[ReplayServerProcess, ReplayServerProcess],
    operator: OperatorProcess,
    query: str,
    reason: str,
    problem: str,
) -> None:
    route = f"q{uuid.uuid4().hex[:5]}"
    apply(cluster, namespace, route_manifest(route, models, constant(2)))
    eventually(lambda: (threshold_of(cluster, namespace, route) or 0) >= 0.34, "climbing", 30)
    patch_spec(
        cluster, namespace, route, {"adaptation": {"signals": {"queueDepth": {"query": query}}}}
    )
    found = eventually(
        lambda: (c := load_adapted(cluster, namespace, route)) and c["reason"] == reason and c,
        f"condition {reason}",
        timeout=20,
    )
    assert found["status"] == "False"
    assert query in found["message"]
    assert problem in found["message"]
    held = threshold_of(cluster, namespace, route)
    before = evaluations(operator, namespace, route)
    eventually(lambda: evaluations(operator, namespace, route) > before, "another evaluation")
    assert threshold_of(cluster, namespace, route) == held
    cluster.kubectl("delete", "hybridroute", route, "-n", namespace, "--wait=false")


def test_operator_restarted_mid_adaptation_resumes_from_status_without_a_jump(
    cluster: ControlPlane,
    namespace: str,
    models: tuple[ReplayServerProcess, ReplayServerProcess],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    route = f"rs{uuid.uuid4().hex[:5]}"
    apply(cluster, namespace, route_manifest(route, models, constant(2)))
    router = RouterProcess(cluster.kubeconfig, f"{namespace}/{route}-policy", tmp_path).start()
    try:
        eventually(lambda: (router.threshold(route) or 0) >= 0.4, "router at >= 0.4", 40)
        assert operator.stop() == 0
        before = threshold_of(cluster, namespace, route) or 0
        eventually(lambda: router.threshold(route) == before, "router at the last status value")
        operator.start()
        seen = []

        def past_restart() -> bool:
            value = router.threshold(route)
            seen.append(value)
            return (threshold_of(cluster, namespace, route) or 0) >= before + 0.04

        eventually(past_restart, "adaptation continues after the restart", timeout=40, interval=0.1)
        assert min(v for v in seen if v is not None) >= before - 1e-9, (before, seen)
    finally:
        router.stop()
        cluster.kubectl("delete", "hybridroute", route, "-n", namespace, "--wait=false")


def prometheus_time(prometheus: FilePrometheus) -> float:
    return prometheus.value("vector(time())") or 0.0


def test_cost_budget_below_the_all_large_burn_holds_spend_within_ten_percent(
    cluster: ControlPlane,
    namespace: str,
    prometheus: FilePrometheus,
    models: tuple[ReplayServerProcess, ReplayServerProcess],
    operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    """Heuristic scores of these prompts spread over ~0.11-0.24 (length only): the
    higher the threshold, the larger the share that goes small and the lower the spend.
    The critical tier goes large whatever the threshold."""
    fast_large = start_replay_server(tmp_path, Behaviour("large", capacity=64, ms_per_token=1))
    route = f"bud{uuid.uuid4().hex[:5]}"
    adaptation = {
        "interval": "1s",
        "threshold": {
            "min": 0.1,
            "max": 0.3,
            "maxStep": 0.02,
            "cooldown": "4s",
        },
        "budget": {"maxCostPerHour": 1e6, "window": "8s"},
    }
    manifest = route_manifest(route, (fast_large, models[1]), adaptation, threshold=0.1)
    # answers of about the same length: each large answer costs about the same, so spend
    # follows the large share (an 8 s window holds two 40-prompt cycles at 10 req/s)
    manifest["spec"]["large"]["pricing"] = {"inputPer1kTokens": 0, "outputPer1kTokens": 2}
    apply(cluster, namespace, manifest)
    router = RouterProcess(cluster.kubeconfig, f"{namespace}/{route}-policy", tmp_path).start()
    prometheus.add_target(router.url.removeprefix("http://"), namespace=namespace)
    prompts = [" ".join(["lorem"] * round(10 * 32 ** ((i * 7 % 40) / 39))) for i in range(40)]
    load = Load(router.url, rate=10, prompts=prompts, model=route).start()
    critical = Load(
        router.url, rate=1, prompts=["hi"], model=route, headers={"x-hybridroute-tier": "critical"}
    ).start()
    spend = f'sum(rate(hybridroute_cost_usd_total{{route="{route}"}}[{{w}}])) * 3600'
    try:
        history = (
            f'count_over_time(hybridroute_requests_total{{route="{route}",model="large"}}[10s])'
        )
        eventually(lambda: (prometheus.value(f"max({history})") or 0) >= 9, "10 s of traffic", 30)
        all_large = prometheus.value(spend.replace("{w}", "10s")) or 0
        assert all_large > 0
        budget = all_large / 2
        patch_spec(
            cluster, namespace, route, {"adaptation": {"budget": {"maxCostPerHour": budget}}}
        )

        eventually(
            lambda: adaptation_of(cluster, namespace, route).get("reason") == "WithinTarget",
            "spend within the budget's band",
            timeout=90,
        )
        start = prometheus_time(prometheus)
        eventually(lambda: prometheus_time(prometheus) >= start + 20, "20 s measured", 40)
        measured = prometheus.value(spend.replace("{w}", "20s")) or 0
        print("BUDGET-RATIO", measured / budget)  # shown with -s: the margin left
        assert abs(measured / budget - 1) <= 0.10, (measured, budget, all_large)
        assert (threshold_of(cluster, namespace, route) or 0) > 0.1
    finally:
        load.stop()
        critical.stop()
        router.stop()
        fast_large.stop()
    assert critical.counts.get("200:replay-large", 0) > 10
    assert set(critical.counts) == {"200:replay-large"}, critical.counts
    assert load.counts.get("200:replay-small", 0) > 0
