"""The GitOps health checks of docs/gitops.md on HybridRoutes whose status the real operator
wrote against the local control plane: Healthy / Current once it serves, Degraded / Failed
when a spec change names a Service that does not exist."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitops_runners import LUA_SCRIPT, build, flux_exprs, run, write_exprs
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


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    directory = tmp_path_factory.mktemp("gitops")
    lua, cel = build("argocd_health", directory), build("flux_health", directory)
    return lua, cel, write_exprs(directory, flux_exprs())


@pytest.fixture
def operator(cluster: ControlPlane, tmp_path: Path) -> Iterator[str]:
    namespace = f"gitops-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    install_crd(cluster)
    proc = OperatorProcess(cluster, namespace, tmp_path).start()
    try:
        yield namespace
    finally:
        code = proc.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        assert code == 0


def health(runners: tuple[Path, Path, Path], obj: dict[str, Any]) -> tuple[str, str]:
    lua, cel, exprs = runners
    [argo] = run(lua, LUA_SCRIPT, [obj])
    [flux] = run(cel, exprs, [obj])
    return argo.get("status", str(argo)), flux.get("status", str(flux))


def observed(cluster: ControlPlane, namespace: str, kind: str, status: str) -> Any:
    """The route once its condition ``kind`` has ``status`` for the current generation."""
    obj = get_json(cluster, "hybridroute", "gh", "-n", namespace)
    found = condition(obj, kind)
    if obj is None or found is None:
        return None
    generation = obj["metadata"]["generation"]
    current = found.get("observedGeneration") == generation
    return obj if current and found["status"] == status else None


def test_a_route_the_operator_serves_is_healthy_and_one_it_cannot_apply_is_degraded(
    cluster: ControlPlane, operator: str, runners: tuple[Path, Path, Path]
) -> None:
    namespace = operator
    apply(cluster, namespace, *models_for("gh"), route_manifest("gh", app="gh"))
    serving = eventually(
        lambda: observed(cluster, namespace, "Ready", "True"), "route Ready", timeout=90
    )
    assert health(runners, serving) == ("Healthy", "Current")

    missing = {"selector": None, "service": "no-such-model", "port": 8000}
    cluster.kubectl(
        "patch",
        "hybridroute",
        "gh",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"large": {"endpoint": missing}}}),
    )
    broken = eventually(
        lambda: observed(cluster, namespace, "Reconciled", "False"),
        "Reconciled=False after the patch",
        timeout=60,
    )
    assert condition(broken, "Reconciled")["reason"] == "ServiceNotFound"  # type: ignore[index]
    assert health(runners, broken) == ("Degraded", "Failed")
