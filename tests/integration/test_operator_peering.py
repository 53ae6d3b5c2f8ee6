"""Several operator replicas with kopf peering: one works, the others stand by, and a
standby takes over when the active one dies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_policy import parse_policy
from operator_harness import (
    ROOT,
    OperatorProcess,
    apply,
    apply_route,
    crd_namespace,
    get_json,
    metric_value,
    route_manifest,
    route_ready,
)

pytestmark = pytest.mark.integration


@contextmanager
def peering_namespace(cluster: ControlPlane, prefix: str) -> Iterator[str]:
    """A new namespace with the CRD and a KopfPeering; deleted on leaving."""
    with crd_namespace(cluster, prefix) as namespace:
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds" / "kopf-peering.yaml"))
        cluster.kubectl(
            "wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=60s"
        )
        peering = {
            "apiVersion": "kopf.dev/v1",
            "kind": "KopfPeering",
            "metadata": {"name": "hybridroute-operator", "namespace": namespace},
        }
        cluster.kubectl("apply", "-f", "-", input=json.dumps(peering))
        yield namespace


def threshold(cluster: ControlPlane, namespace: str, route: str) -> float | None:
    cm = get_json(cluster, "configmap", f"{route}-policy", "-n", namespace)
    return parse_policy(cm["data"]["policy.yaml"]).complexity.threshold if cm else None


def counter(proc: OperatorProcess, name: str) -> float:
    return metric_value(proc.metrics(), name) or 0.0


def test_replica_paused_by_a_higher_priority_peer_stops_writing(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    """kopf's pause stops only the watches; the paused replica's resync loop and queue
    must not re-apply its cached (now stale) specs over the new worker's children."""
    with peering_namespace(cluster, "pause") as namespace:
        args = ("--peering", "hybridroute-operator", "--peering-lifetime", "5")
        low = OperatorProcess(cluster, namespace, tmp_path, *args, "--priority", "1", name="low")
        low.start()
        high = None
        try:
            apply_route(cluster, namespace, "old")
            eventually(lambda: route_ready(cluster, namespace, "old"), "route Ready", timeout=60)
            high = OperatorProcess(
                cluster, namespace, tmp_path, *args, "--priority", "10", name="high"
            ).start()
            eventually(
                lambda: (
                    counter(low, "hybridroute_operator_active") == 0
                    and counter(high, "hybridroute_operator_active") == 1
                ),
                "the low-priority replica stands by",
                timeout=30,
            )
            apply(cluster, namespace, route_manifest("old", app="old", threshold=0.8))
            eventually(
                lambda: threshold(cluster, namespace, "old") == 0.8, "new spec applied", timeout=30
            )
            writes = counter(low, "hybridroute_operator_reconciles_total")
            skipped = counter(low, "hybridroute_operator_standby_resyncs_total")
            eventually(  # resync runs every 5 s here: two standby periods
                lambda: counter(low, "hybridroute_operator_standby_resyncs_total") >= skipped + 2,
                "two resync periods on the standby",
                timeout=30,
            )
            assert counter(low, "hybridroute_operator_reconciles_total") == writes
            assert threshold(cluster, namespace, "old") == 0.8
        finally:
            if high is not None:
                assert high.stop() == 0
            assert low.stop() == 0


def test_standby_replica_takes_over_when_the_active_one_dies(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    with peering_namespace(cluster, "peer") as namespace:
        args = ("--peering", "hybridroute-operator", "--peering-lifetime", "5")
        active = OperatorProcess(
            cluster, namespace, tmp_path, *args, "--priority", "10", name="active"
        ).start()
        eventually(
            lambda: (
                get_json(cluster, "kopfpeering", "hybridroute-operator", "-n", namespace) or {}
            ).get("status"),
            "the active replica registered in the peering",
            timeout=30,
        )
        standby = OperatorProcess(
            cluster, namespace, tmp_path, *args, "--priority", "1", name="standby"
        ).start()
        try:
            apply_route(cluster, namespace, "first")
            eventually(
                lambda: route_ready(cluster, namespace, "first"), "first route Ready", timeout=60
            )
            # the standby starts paused (a higher-priority peer is alive) and did nothing
            assert counter(standby, "hybridroute_operator_reconciles_total") == 0
            assert counter(active, "hybridroute_operator_reconciles_total") > 0
            active.kill()
            apply_route(cluster, namespace, "second")
            eventually(
                lambda: route_ready(cluster, namespace, "second"),
                "second route Ready, served by the standby",
                timeout=90,
            )
            assert "Resuming operations" in standby.log_tail(400)
        finally:
            active.kill()
            assert standby.stop() == 0
