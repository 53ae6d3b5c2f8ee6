"""The operator's Helm chart: lint, render, and the operator running with exactly the
chart's RBAC against the real API server (skipped when the helm binary is not built)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_harness import CHART, helm_binary, render, template
from hybridroute_localstack import ControlPlane, eventually
from operator_harness import (
    ROOT,
    OperatorProcess,
    account_kubeconfig,
    apply_route,
    crd_namespace,
    metric_value,
    route_ready,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["metrics.serviceMonitor.enabled=true", "alerts.enabled=true", "dashboard.enabled=true"],
        ["watchNamespaces={a,b}", "peering.enabled=false"],
    ],
)
def test_chart_lints(helm: str, values: list[str]) -> None:
    sets = [arg for value in values for arg in ("--set", value)]
    result = subprocess.run(
        [helm, "lint", "--strict", str(CHART), *sets],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_chart_ships_the_generated_crds_and_a_hardened_deployment(helm: str) -> None:
    docs = template(helm)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("CustomResourceDefinition", "hybridroutes.inferensys.io") in kinds
    assert ("ClusterKopfPeering", "hybridroute-operator") in kinds
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert "--all-namespaces" in container["args"]
    assert "--peering=hybridroute-operator" in container["args"]
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "secrets" not in resources
    assert "pods" not in resources


def test_namespaced_install_uses_roles_and_namespaced_peering(helm: str) -> None:
    docs = template(helm, "watchNamespaces={a,b}")
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in docs]
    assert ("Role", "a") in kinds
    assert ("RoleBinding", "b") in kinds
    assert ("KopfPeering", "a") in kinds
    assert not any(k == "ClusterRole" for k, _ in kinds)


@pytest.fixture
def chart_account(cluster: ControlPlane, helm: str, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The chart's ServiceAccount and namespaced RBAC applied for a fresh namespace; a
    kubeconfig authenticating as that account."""
    with crd_namespace(cluster, "rbac") as namespace:
        docs = template(helm, f"watchNamespaces={{{namespace}}}", namespace=namespace)
        wanted = [d for d in docs if d["kind"] in {"ServiceAccount", "Role", "RoleBinding"}]
        rbac = {"apiVersion": "v1", "kind": "List", "items": wanted}
        cluster.kubectl("apply", "-f", "-", input=json.dumps(rbac))
        account = next(d for d in wanted if d["kind"] == "ServiceAccount")["metadata"]["name"]
        path = tmp_path / "operator.kubeconfig"
        yield account_kubeconfig(cluster, namespace, account, path), namespace


def test_charts_rbac_allows_owner_references_that_block_owner_deletion(
    cluster: ControlPlane, helm: str, chart_account: tuple[Path, str]
) -> None:
    """Children carry blockOwnerDeletion: true; under the OwnerReferencesPermissionEnforcement
    admission plugin setting it needs update on hybridroutes/finalizers."""
    _, namespace = chart_account
    docs = template(helm, f"watchNamespaces={{{namespace}}}", namespace=namespace)
    account = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]["name"]
    result = cluster.kubectl(
        "auth",
        "can-i",
        "update",
        "hybridroutes.inferensys.io",
        "--subresource=finalizers",
        "-n",
        namespace,
        f"--as=system:serviceaccount:{namespace}:{account}",
        check=False,
    )
    assert result.stdout.strip() == "yes", result.stdout + result.stderr


def test_operator_works_with_only_the_charts_rbac(
    cluster: ControlPlane, chart_account: tuple[Path, str], tmp_path: Path
) -> None:
    kubeconfig, namespace = chart_account
    proc = OperatorProcess(cluster, namespace, tmp_path)
    proc.command[proc.command.index("--kubeconfig") + 1] = str(kubeconfig)
    proc.start()
    try:
        apply_route(cluster, namespace, "rb")
        eventually(
            lambda: route_ready(cluster, namespace, "rb"),
            "route Ready with the chart's RBAC",
            timeout=90,
        )
        assert "Forbidden" not in proc.log_tail(200)
    finally:
        assert proc.stop() == 0


def chart_operator_args(docs: list[dict[str, Any]]) -> list[str]:
    """The operator container's arguments as the chart renders them, less the ones the
    harness sets itself (two local processes cannot share the metrics/health ports)."""
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    own = ("--namespace", "--metrics-port", "--health-port")
    return [a for a in args if not a.startswith(own)]


def test_two_replicas_with_the_charts_arguments_elect_exactly_one_worker(
    cluster: ControlPlane, helm: str, chart_account: tuple[Path, str], tmp_path: Path
) -> None:
    """The default install: 2 replicas, peering on, no --priority. kopf pauses every peer
    sharing a priority, so both must pick distinct ones for anything to be reconciled."""
    kubeconfig, namespace = chart_account
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds" / "kopf-peering.yaml"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s"
    )
    docs = template(helm, f"watchNamespaces={{{namespace}}}", namespace=namespace)
    peering = next(d for d in docs if d["kind"] == "KopfPeering")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(peering))
    args = chart_operator_args(docs)
    assert not any(a.startswith("--priority") for a in args)
    replicas = []
    for name in ("replica-a", "replica-b"):
        proc = OperatorProcess(cluster, namespace, tmp_path, *args, name=name)
        proc.command[proc.command.index("--kubeconfig") + 1] = str(kubeconfig)
        replicas.append(proc.start())
    try:
        apply_route(cluster, namespace, "ha")
        eventually(
            lambda: route_ready(cluster, namespace, "ha"),
            "route Ready with two chart replicas",
            timeout=90,
        )

        def active() -> list[float]:
            return [metric_value(p.metrics(), "hybridroute_operator_active") or 0 for p in replicas]

        eventually(lambda: sorted(active()) == [0, 1], "exactly one replica working", timeout=30)
        worker = replicas[active().index(1)]
        assert (metric_value(worker.metrics(), "hybridroute_operator_reconciles_total") or 0) > 0
    finally:
        for proc in replicas:
            assert proc.stop() == 0


def test_rendered_chart_is_accepted_by_the_api_server(cluster: ControlPlane, helm: str) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds" / "kopf-peering.yaml"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s"
    )
    namespace = f"chart-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    try:
        docs = template(helm, namespace=namespace)
        result = cluster.kubectl(
            "apply",
            "--dry-run=server",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "deployment.apps/hro created (server dry run)" in result.stdout
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def kinds_of(docs: list[dict[str, Any]]) -> set[str]:
    return {d["kind"] for d in docs}


def test_monitoring_alerts_and_dashboard_are_off_by_default(helm: str) -> None:
    assert not {"ServiceMonitor", "PrometheusRule"} & kinds_of(template(helm))
    assert not any(d["metadata"]["name"].endswith("-dashboard") for d in template(helm))


def test_alerts_toggle_embeds_the_promtool_tested_rules_unchanged(helm: str) -> None:
    docs = template(helm, "alerts.enabled=true", "alerts.labels.release=kps")
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    rules_file = yaml.safe_load((CHART / "rules" / "hybridroute.rules.yaml").read_text())
    assert rule["spec"]["groups"] == rules_file["groups"]
    assert rule["metadata"]["labels"]["release"] == "kps"
    assert rule["metadata"]["namespace"] == "hro-system"


def test_dashboard_toggle_ships_the_tested_json_for_grafanas_sidecar(helm: str) -> None:
    docs = template(
        helm, "dashboard.enabled=true", "dashboard.namespace=grafana", "dashboard.annotations.f=LLM"
    )
    [config] = [d for d in docs if d["metadata"]["name"] == "hro-dashboard"]
    assert config["kind"] == "ConfigMap"
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config["metadata"]["namespace"] == "grafana"
    assert config["metadata"]["annotations"] == {"f": "LLM"}
    shipped = json.loads((CHART / "dashboards" / "hybridroute.json").read_text())
    assert json.loads(config["data"]["hybridroute.json"]) == shipped


def test_operator_service_monitor_honours_the_routes_namespace_label(helm: str) -> None:
    docs = template(
        helm, "metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.a=b"
    )
    [monitor] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert endpoint["port"] == "metrics"
    assert monitor["metadata"]["labels"]["a"] == "b"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("alert.enabled=true", "additional properties 'alert' not allowed"),
        ("alerts.enabled=yes", "/alerts/enabled"),
        ("replicaCount=0", "/replicaCount"),
        ("metrics.port=70000", "/metrics/port"),
        ("logFormat=xml", "/logFormat"),
        ("dashboard.labels.grafana_dashboard=1", "/dashboard/labels/grafana_dashboard"),
        ("watchNamespaces={Not_A_Namespace}", "/watchNamespaces/0"),
        ("prometheus.url=prometheus:9090", "/prometheus/url"),
    ],
)
def test_bad_values_are_refused_with_their_path(helm: str, value: str, message: str) -> None:
    result = render(helm, value)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr


def test_prometheus_url_becomes_the_operators_default_prometheus(helm: str) -> None:
    assert not any(a.startswith("--prometheus-url") for a in chart_operator_args(template(helm)))
    docs = template(helm, "prometheus.url=http://prometheus-operated.monitoring:9090")
    assert "--prometheus-url=http://prometheus-operated.monitoring:9090" in chart_operator_args(
        docs
    )
