"""Optional children against the real API server: a ServiceMonitor when the Prometheus
Operator's API exists, an HPA when asked, and pruning of what is no longer rendered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hybridroute_localstack import ControlPlane, eventually
from operator_harness import (
    OperatorProcess,
    apply_route,
    condition,
    crd_namespace,
    get_json,
    install_monitoring_crd,
    patch_spec,
    route_manifest,
    running_operator,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(
    cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, OperatorProcess]]:
    with crd_namespace(cluster, "opt") as namespace:
        install_monitoring_crd(cluster, "ServiceMonitor", "servicemonitors")
        workdir = tmp_path_factory.mktemp("op-children")
        with running_operator(cluster, namespace, workdir) as proc:
            yield namespace, proc


def exists(cluster: ControlPlane, namespace: str, kind: str, name: str) -> bool:
    return get_json(cluster, kind, name, "-n", namespace) is not None


def wait_exists(
    cluster: ControlPlane, namespace: str, kind: str, name: str, what: str, timeout: float = 30
) -> None:
    eventually(lambda: exists(cluster, namespace, kind, name), what, timeout=timeout)


def wait_gone(
    cluster: ControlPlane, namespace: str, kind: str, name: str, what: str, timeout: float = 30
) -> None:
    eventually(lambda: not exists(cluster, namespace, kind, name), what, timeout=timeout)


def test_service_monitor_is_created_when_its_api_exists_and_pruned_when_disabled(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess]
) -> None:
    namespace, _ = setup
    route = "opt-sm"
    apply_route(cluster, namespace, route)
    wait_exists(
        cluster,
        namespace,
        "servicemonitor",
        f"{route}-router",
        "ServiceMonitor created (the API exists)",
        60,
    )
    monitor = get_json(cluster, "servicemonitor", f"{route}-router", "-n", namespace)
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"  # type: ignore[index]

    patch_spec(cluster, namespace, route, {"monitoring": {"serviceMonitor": False}})
    wait_gone(cluster, namespace, "servicemonitor", f"{route}-router", "ServiceMonitor pruned")


def test_autoscaling_creates_an_hpa_and_removing_it_prunes_the_hpa(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess]
) -> None:
    namespace, _ = setup
    route = "opt-hpa"
    apply_route(cluster, namespace, route)
    wait_exists(
        cluster, namespace, "deployment", f"{route}-router", "router Deployment created", 60
    )
    assert not exists(cluster, namespace, "hpa", f"{route}-router")

    autoscaling = {"minReplicas": 2, "maxReplicas": 5}
    patch_spec(cluster, namespace, route, {"router": {"autoscaling": autoscaling}})
    wait_exists(cluster, namespace, "hpa", f"{route}-router", "HPA created")
    hpa = get_json(cluster, "hpa", f"{route}-router", "-n", namespace)
    assert hpa["spec"]["maxReplicas"] == 5  # type: ignore[index]

    patch_spec(cluster, namespace, route, {"router": {"autoscaling": None}})
    wait_gone(cluster, namespace, "hpa", f"{route}-router", "HPA pruned")


def test_removed_version_loses_its_service_and_the_route_stays_ready(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess]
) -> None:
    namespace, _ = setup
    route = "opt-ver"
    apply_route(cluster, namespace, route)
    wait_exists(
        cluster, namespace, "service", f"{route}-small-v2", "both versions' Services created", 60
    )
    only_v1 = {
        "name": "v1",
        "weight": 100,
        "endpoint": {"selector": {"app": f"{route}-small", "version": "v1"}, "port": 8000},
    }
    patch_spec(cluster, namespace, route, {"small": {"versions": [only_v1]}})
    wait_gone(
        cluster, namespace, "service", f"{route}-small-v2", "removed version's Service pruned"
    )
    assert exists(cluster, namespace, "service", f"{route}-small-v1")

    def ready_with_one_version() -> bool:
        obj = get_json(cluster, "hybridroute", route, "-n", namespace)
        found = condition(obj, "Ready")
        return bool(
            found
            and found["status"] == "True"
            and [v["name"] for v in obj["status"]["versions"]] == ["v1"]
        )  # type: ignore[index]

    eventually(ready_with_one_version, "Ready with the single remaining version", timeout=60)


def test_router_secrets_and_admin_port_reach_the_router_deployment_and_service(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess]
) -> None:
    namespace, _ = setup
    route = "opt-keys"
    manifest = route_manifest(route, app=route)
    manifest["spec"]["router"]["feedbackTokenSecretRef"] = {"name": "keys", "key": "feedback"}
    manifest["spec"]["router"]["hashKeySecretRef"] = {"name": "keys", "key": "hash"}
    manifest["spec"]["router"]["adminPort"] = 9090
    apply_route(cluster, namespace, route, manifest)

    def router_args() -> list[str] | None:
        found = get_json(cluster, "deployment", f"{route}-router", "-n", namespace)
        return found["spec"]["template"]["spec"]["containers"][0]["args"] if found else None

    args = eventually(router_args, "router Deployment created", timeout=60)
    assert args[args.index("--feedback-token-file") + 1].endswith("/keys/feedback")
    assert args[args.index("--hash-key-file") + 1].endswith("/keys/hash")
    assert args[args.index("--admin-port") + 1] == "9090"

    def service_ports() -> dict[str, int] | None:
        found = get_json(cluster, "service", f"{route}-router", "-n", namespace)
        return {p["name"]: p["port"] for p in found["spec"]["ports"]} if found else None

    ports = eventually(service_ports, "router Service created", timeout=30)
    assert ports == {"http": 8080, "admin": 9090}
