"""A real ``helm install`` of the operator's chart into the local control plane for each
toggle (default, monitoring, alerts, dashboard, namespaced), then ``helm uninstall``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from chart_harness import CHART, helm_binary
from hybridroute_localstack import ControlPlane
from operator_harness import install_monitoring_crd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane(control_plane: ControlPlane) -> ControlPlane:
    helm_binary()  # skips when helm is not built
    for kind, plural in (
        ("ServiceMonitor", "servicemonitors"),
        ("PrometheusRule", "prometheusrules"),
    ):
        install_monitoring_crd(control_plane, kind, plural)
    return control_plane


@pytest.fixture
def release(plane: ControlPlane) -> Iterator[tuple[str, str]]:
    """A fresh namespace and release name; the release is uninstalled afterwards."""
    suffix = uuid.uuid4().hex[:6]
    namespace, name = f"hro-{suffix}", f"hro-{suffix}"
    plane.kubectl("create", "namespace", namespace)
    yield namespace, name
    plane.helm("uninstall", name, "-n", namespace, "--wait", check=False)
    plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def get(plane: ControlPlane, *args: str) -> Any:
    return json.loads(plane.kubectl("get", *args, "-o", "json").stdout)


def check_default(plane: ControlPlane, namespace: str, name: str) -> None:
    deployment = get(plane, "deployment", name, "-n", namespace)
    assert "--all-namespaces" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    get(plane, "clusterrole", name)
    get(plane, "clusterkopfpeering", f"{name}-peering")
    assert get(plane, "servicemonitors,prometheusrules", "-n", namespace)["items"] == []


def check_monitoring(plane: ControlPlane, namespace: str, name: str) -> None:
    monitor = get(plane, "servicemonitor", name, "-n", namespace)
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True
    service = get(plane, "service", f"{name}-metrics", "-n", namespace)
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


def check_alerts(plane: ControlPlane, namespace: str, name: str) -> None:
    rule = get(plane, "prometheusrule", name, "-n", namespace)
    rules_file = yaml.safe_load((CHART / "rules" / "hybridroute.rules.yaml").read_text())
    assert rule["spec"]["groups"] == rules_file["groups"]


def check_dashboard(plane: ControlPlane, namespace: str, name: str) -> None:
    # how Grafana's sidecar finds it: by label
    found = get(plane, "configmaps", "-n", namespace, "-l", "grafana_dashboard=1")["items"]
    [config] = [c for c in found if c["metadata"]["name"] == f"{name}-dashboard"]
    shipped = json.loads((CHART / "dashboards" / "hybridroute.json").read_text())
    assert json.loads(config["data"]["hybridroute.json"]) == shipped


def check_namespaced(plane: ControlPlane, namespace: str, name: str) -> None:
    deployment = get(plane, "deployment", name, "-n", namespace)
    assert (
        f"--namespace={namespace}"
        in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    get(plane, "role", name, "-n", namespace)
    get(plane, "kopfpeering", f"{name}-peering", "-n", namespace)
    missing = plane.kubectl("get", "clusterrole", name, check=False)
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr


Check = Callable[[ControlPlane, str, str], None]
TOGGLES: dict[str, tuple[list[str], Check]] = {
    "default": ([], check_default),
    "monitoring": (["metrics.serviceMonitor.enabled=true"], check_monitoring),
    "alerts": (["alerts.enabled=true"], check_alerts),
    "dashboard": (["dashboard.enabled=true"], check_dashboard),
    "namespaced": (["watchNamespaces={NAMESPACE}"], check_namespaced),
}


@pytest.mark.parametrize("toggle", list(TOGGLES))
def test_helm_install_and_uninstall(
    plane: ControlPlane, release: tuple[str, str], toggle: str
) -> None:
    namespace, name = release
    values, check = TOGGLES[toggle]
    # cluster-scoped names (ClusterRole, ClusterKopfPeering) are per release
    args = ["--set", f"peering.name={name}-peering"]
    for value in values:
        args += ["--set", value.replace("NAMESPACE", namespace)]
    plane.helm("install", name, str(CHART), "-n", namespace, *args)
    status = json.loads(plane.helm("status", name, "-n", namespace, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    check(plane, namespace, name)
    notes = plane.helm("get", "notes", name, "-n", namespace).stdout
    assert ("Alerts: PrometheusRule" in notes) is (toggle == "alerts")
    assert ("Dashboard: ConfigMap" in notes) is (toggle == "dashboard")
    plane.helm("uninstall", name, "-n", namespace, "--wait")
    assert plane.kubectl("get", "deployment", name, "-n", namespace, check=False).returncode != 0
