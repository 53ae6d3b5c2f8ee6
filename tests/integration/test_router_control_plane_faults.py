"""Control-plane faults on a real local control plane while the operator and a router run:
kube-apiserver restarted, then etcd restarted. The router keeps answering with its last
policy during each outage and resumes its ConfigMap watch; the operator converges; a
change submitted during the outage (its client retrying until the API takes it, as a
GitOps agent does) reaches the router afterwards.

The plane is this module's own (etcd + kube-apiserver, no controllers): restarting the
session's shared one would disturb the other tests.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.process import start
from operator_harness import (
    OperatorProcess,
    RouterProcess,
    apply,
    get_json,
    install_crd,
    models_for,
    route_manifest,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    own = ControlPlane(tmp_path_factory.mktemp("faulty-plane"))
    own.start()
    try:
        yield own
    finally:
        own.stop()


def api_ready(plane: ControlPlane) -> bool:
    return plane.kubectl("get", "--raw", "/readyz", check=False).stdout == "ok"


def restart(plane: ControlPlane, name: str, during: Callable[[], None]) -> None:
    """Stop component ``name`` (SIGTERM), run ``during`` while it is down, start it
    again with the same command (same ports, same etcd data) and wait for the API."""
    old = plane.component(name)
    assert old is not None
    old.stop()
    during()
    new = start(name, list(old.command), old.log, die_with_parent=plane.die_with_parent)
    plane.components[plane.components.index(old)] = new
    eventually(lambda: api_ready(plane), f"the API ready after {name} restarted", timeout=60)


def explain(router: RouterProcess, route: str) -> dict[str, Any]:
    """The router's decision for a request (no upstream call: the models' Services do
    not resolve here)."""
    model = httpx.get(f"{router.url}/v1/models", timeout=5).json()["data"][0]["id"]
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    resp = httpx.post(f"{router.url}/v1/route/explain", json=body, timeout=5)
    assert resp.status_code == 200, resp.text
    decision: dict[str, Any] = resp.json()["decision"]
    return decision


def patch_threshold(plane: ControlPlane, ns: str, route: str, value: float) -> bool:
    patch = json.dumps({"spec": {"policy": {"complexity": {"threshold": value}}}})
    args = ("patch", "hybridroute", route, "-n", ns, "--type=merge", "-p", patch)
    return plane.kubectl(*args, check=False).returncode == 0


def submit_during_outage(
    plane: ControlPlane, ns: str, route: str, value: float
) -> threading.Thread:
    """A client that retries the change until the API accepts it."""
    thread = threading.Thread(
        target=eventually,
        args=(lambda: patch_threshold(plane, ns, route, value), "patch accepted", 90, 0.5),
        daemon=True,
    )
    thread.start()
    return thread


def converged(plane: ControlPlane, ns: str, route: str, router: RouterProcess, value: float) -> Any:
    obj = get_json(plane, "hybridroute", route, "-n", ns)
    status = (obj or {}).get("status") or {}
    return (
        obj is not None
        and status.get("observedGeneration") == obj["metadata"]["generation"]
        and router.threshold(route) == value
    )


def test_router_and_operator_ride_out_apiserver_and_etcd_restarts(
    plane: ControlPlane, tmp_path: Path
) -> None:
    ns = f"faults-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", ns)
    # on a fresh API server `kubectl wait` can run before the CRD has any status: retry
    eventually(lambda: install_crd(plane) or True, "the CRD established", timeout=60)
    route = "faulty"
    apply(plane, ns, *models_for(route), route_manifest(route, app=route, threshold=0.5))
    operator = OperatorProcess(plane, ns, tmp_path).start()
    router = RouterProcess(plane.kubeconfig, f"{ns}/{route}-policy", tmp_path).start()
    try:
        eventually(lambda: router.threshold(route) == 0.5, "router on threshold 0.5", timeout=60)
        digest = router.ready()["policy"]
        writers: list[threading.Thread] = []

        def apiserver_down() -> None:
            assert not api_ready(plane)
            assert explain(router, route)["threshold"] == 0.5  # still deciding
            assert router.ready()["policy"] == digest  # with its last policy
            writers.append(submit_during_outage(plane, ns, route, 0.7))

        restart(plane, "kube-apiserver", apiserver_down)
        eventually(
            lambda: converged(plane, ns, route, router, 0.7),
            "the change made during the API server outage at the router",
            timeout=60,
        )
        assert explain(router, route)["threshold"] == 0.7

        def etcd_down() -> None:
            assert explain(router, route)["threshold"] == 0.7
            writers.append(submit_during_outage(plane, ns, route, 0.6))

        restart(plane, "etcd", etcd_down)
        eventually(
            lambda: converged(plane, ns, route, router, 0.6),
            "the change made during the etcd outage at the router",
            timeout=60,
        )
        assert explain(router, route)["threshold"] == 0.6
        for writer in writers:
            writer.join(timeout=5)
        assert operator.running
        assert router.running
    finally:
        router.stop()
        code = operator.stop()
        print(operator.log_tail(30))
    assert code == 0, "the operator did not shut down cleanly"
