"""Optional children against the real API server: a ServiceMonitor when the Prometheus
Operator's API exists, an HPA when asked, and pruning of what is no longer rendered."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hybridroute_localstack import ControlPlane, eventually
from operator_harness import (
    OperatorProcess,
    apply,
    condition,
    get_json,
    install_crd,
    models_for,
    route_manifest,
)

pytestmark = pytest.mark.integration

# Just enough of the Prometheus Operator's CRD for the API to be served.
SERVICE_MONITOR_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "scope": "Namespaced",
        "names": {
            "kind": "ServiceMonitor",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def setup(
    cluster: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, OperatorProcess]]:
    namespace = f"opt-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    install_crd(cluster)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(SERVICE_MONITOR_CRD))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "crd/servicemonitors.monitoring.coreos.com",
        "--timeout=60s",
    )
    proc = OperatorProcess(cluster, namespace, tmp_path_factory.mktemp("op-children")).start()
    try:
        yield namespace, proc
    finally:
        code = proc.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        assert code == 0


def exists(cluster: ControlPlane, namespace: str, kind: str, name: str) -> bool:
    return get_json(cluster, kind, name, "-n", namespace) is not None


def patch(cluster: ControlPlane, namespace: str, route: str, spec: dict[str, Any]) -> None:
    cluster.kubectl(
        "patch",
        "hybridroute",
        route,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": spec}),
    )


def test_service_monitor_is_created_when_its_api_exists_and_pruned_when_disabled(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess]
) -> None:
    namespace, _ = setup
    route = "opt-sm"
    apply(cluster, namespace, *models_for(route), route_manifest(route, app=route))
    eventually(
        lambda: exists(cluster, namespace, "servicemonitor", f"{route}-router"),
        "ServiceMonitor created (the API exists)",
        timeout=60,
    )
    monitor = get_json(cluster, "servicemonitor", f"{route}-router", "-n", namespace)
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"  # type: ignore[index]

    patch(cluster, namespace, route, {"monitoring": {"serviceMonitor": False}})
    eventually(
        lambda: not exists(cluster, namespace, "servicemonitor", f"{route}-router"),
        "ServiceMonitor pruned",
        timeout=30,
    )


def test_autoscaling_creates_an_hpa_and_removing_it_prunes_the_hpa(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess]
) -> None:
    namespace, _ = setup
    route = "opt-hpa"
    apply(cluster, namespace, *models_for(route), route_manifest(route, app=route))
    eventually(
        lambda: exists(cluster, namespace, "deployment", f"{route}-router"),
        "router Deployment created",
        timeout=60,
    )
    assert not exists(cluster, namespace, "hpa", f"{route}-router")

    patch(
        cluster, namespace, route, {"router": {"autoscaling": {"minReplicas": 2, "maxReplicas": 5}}}
    )
    eventually(
        lambda: exists(cluster, namespace, "hpa", f"{route}-router"), "HPA created", timeout=30
    )
    hpa = get_json(cluster, "hpa", f"{route}-router", "-n", namespace)
    assert hpa["spec"]["maxReplicas"] == 5  # type: ignore[index]

    patch(cluster, namespace, route, {"router": {"autoscaling": None}})
    eventually(
        lambda: not exists(cluster, namespace, "hpa", f"{route}-router"), "HPA pruned", timeout=30
    )


def test_removed_version_loses_its_service_and_the_route_stays_ready(
    cluster: ControlPlane, setup: tuple[str, OperatorProcess]
) -> None:
    namespace, _ = setup
    route = "opt-ver"
    apply(cluster, namespace, *models_for(route), route_manifest(route, app=route))
    eventually(
        lambda: exists(cluster, namespace, "service", f"{route}-small-v2"),
        "both versions' Services created",
        timeout=60,
    )
    only_v1 = {
        "name": "v1",
        "weight": 100,
        "endpoint": {"selector": {"app": f"{route}-small", "version": "v1"}, "port": 8000},
    }
    patch(cluster, namespace, route, {"small": {"versions": [only_v1]}})
    eventually(
        lambda: not exists(cluster, namespace, "service", f"{route}-small-v2"),
        "removed version's Service pruned",
        timeout=30,
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
    apply(cluster, namespace, *models_for(route), manifest)

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
