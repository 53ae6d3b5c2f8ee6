"""The validating admission webhook against the real API server: what CEL cannot say is
rejected at apply time with a readable message; the webhook is removed on shutdown."""

from __future__ import annotations

from pathlib import Path

import pytest
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.probe import free_port
from operator_harness import apply, crd_namespace, get_json, route_manifest, running_operator

pytestmark = pytest.mark.integration
CONFIGURATION = "hybridroute.inferensys.io"


def webhooks(cluster: ControlPlane) -> list[dict[str, object]]:
    found = get_json(cluster, "validatingwebhookconfiguration", CONFIGURATION)
    return list((found or {}).get("webhooks") or [])


def test_webhook_rejects_what_the_schema_cannot_say(cluster: ControlPlane, tmp_path: Path) -> None:
    webhook = ("--webhook-port", str(free_port()), "--webhook-host", "127.0.0.1")
    with (
        crd_namespace(cluster, "hook") as namespace,
        running_operator(cluster, namespace, tmp_path, *webhook),
    ):
        eventually(lambda: webhooks(cluster), "the webhook registered", timeout=30)
        bad = route_manifest("hooked", app="hooked")
        bad["spec"]["policy"]["tiers"] = {"rules": {"critical": "large"}, "default": "gold"}

        def rejected() -> str | None:
            result = apply(cluster, namespace, bad, check=False)
            return result.stderr if result.returncode != 0 else None

        stderr = eventually(rejected, "the bad spec rejected by the webhook", timeout=30)
        assert "spec.policy.tiers.default: 'gold' is not a tier in rules (critical)" in stderr
        assert get_json(cluster, "hybridroute", "hooked", "-n", namespace) is None
        good = route_manifest("hooked", app="hooked")
        apply(cluster, namespace, good)
    assert webhooks(cluster) == []  # cleaned up: a stopped operator blocks nothing
    cluster.kubectl(
        "delete", "validatingwebhookconfiguration", CONFIGURATION, "--ignore-not-found", check=False
    )
