"""The operator as the chart runs it by default: no admission webhook flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hybridroute_localstack import ControlPlane, eventually
from operator_harness import OperatorProcess, crd_namespace
from stack import conditions, hybridroute

pytestmark = pytest.mark.e2e


def test_operator_without_a_webhook_reconciles_a_route(
    cluster: ControlPlane, tmp_path: Path
) -> None:
    with crd_namespace(cluster, "nohook") as namespace:
        proc = OperatorProcess(cluster, namespace, tmp_path)
        super(OperatorProcess, proc).start()  # not OperatorProcess.start: fail fast on exit
        try:
            manifest = hybridroute(
                "plain", "plain", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", 0.5
            )
            cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))

            def settled() -> str | None:
                if not proc.running:
                    return "exited"
                return (
                    "reconciled"
                    if conditions(cluster, namespace, "plain").get("Reconciled") == "True"
                    else None
                )

            outcome = eventually(settled, "route reconciled or operator exited", timeout=60)
            assert outcome == "reconciled", f"operator exited:\n{proc.log_tail(15)}"
        finally:
            proc.stop()
