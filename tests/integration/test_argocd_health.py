"""The Argo CD health check of HybridRoute (docs/gitops/hybridroute-health.lua) run by
gopher-lua, the Lua interpreter Argo CD embeds (a small Go program, tests/argocd_health,
built from the Go module proxy), against status fixtures of every phase."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "docs" / "gitops" / "hybridroute-health.lua"
RUNNER = ROOT / "tests" / "argocd_health"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("go missing (bash .ci/setup needs it for the local control plane)")
    binary = tmp_path_factory.mktemp("argocd-health") / "argocd-health"
    subprocess.run(
        [go, "build", "-buildvcs=false", "-o", str(binary), "."],
        cwd=RUNNER,
        check=True,
        timeout=240,
        env={**os.environ, "CGO_ENABLED": "0"},
    )
    return binary


def health(runner: Path, *objects: dict[str, Any], script: Path = SCRIPT) -> list[dict[str, str]]:
    lines = "".join(json.dumps(o) + "\n" for o in objects)
    out = subprocess.run(
        [str(runner), str(script)], input=lines, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def cond(kind: str, status: str, reason: str, message: str = "", gen: int = 2) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": gen,
        "lastTransitionTime": "2026-11-29T08:00:00Z",
    }


READY = cond("Ready", "True", "RouterServing", "router serving with 2 available replicas")
RECONCILED = cond("Reconciled", "True", "Applied", "all children applied")
NOT_DEGRADED = cond("Degraded", "False", "AllTargetsReady")


def route(
    *conditions: dict[str, Any], observed: int | None = 2, canary: dict[str, Any] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": "support", "namespace": "llm", "generation": 2},
        "spec": {},
    }
    if observed is not None:
        obj["status"] = {"observedGeneration": observed, "conditions": list(conditions)}
        if canary is not None:
            obj["status"]["canary"] = canary
    return obj


def canary(phase: str, weight: int = 10) -> dict[str, Any]:
    return {"phase": phase, "stable": "v3", "candidate": "v4", "step": 1, "weight": weight}


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("never observed", route(observed=None), "Progressing", "Waiting for the operator"),
    (
        "spec changed, not observed yet",
        route(READY, RECONCILED, observed=1),
        "Progressing",
        "observe generation 2",
    ),
    (
        "Ready written for an older generation",
        route(cond("Ready", "True", "RouterServing", gen=1), RECONCILED),
        "Progressing",
        "Ready condition of generation 2",
    ),
    ("serving", route(READY, RECONCILED, NOT_DEGRADED), "Healthy", "RouterServing: router"),
    (
        "serving with a version that has no pods",
        route(READY, RECONCILED, cond("Degraded", "True", "NoPodsSelected", "small version v4")),
        "Healthy",
        "RouterServing",
    ),
    (
        "router pods starting",
        route(cond("Ready", "False", "RouterNotAvailable", "0 of 2"), RECONCILED, NOT_DEGRADED),
        "Progressing",
        "RouterNotAvailable: 0 of 2",
    ),
    (
        "large model without ready endpoints",
        route(
            cond("Ready", "False", "LargeModelNotReady", "the large model has no ready endpoint"),
            RECONCILED,
            cond("Degraded", "True", "NoReadyEndpoints", "large model: none of 2 endpoints"),
        ),
        "Degraded",
        "LargeModelNotReady: the large model has no ready endpoint (NoReadyEndpoints",
    ),
    (
        "a referenced Service missing",
        route(
            READY,
            cond("Reconciled", "False", "ServiceNotFound", "large model: Service 'llm' missing"),
        ),
        "Degraded",
        "ServiceNotFound: large model",
    ),
    (
        "invalid spec",
        route(cond("Ready", "False", "InvalidSpec", "spec.small.versions: weights")),
        "Degraded",
        "InvalidSpec: spec.small.versions",
    ),
    (
        "canary pending",
        route(READY, RECONCILED, canary=canary("Pending", 0)),
        "Progressing",
        "Canary v4 Pending at weight 0%",
    ),
    (
        "canary progressing",
        route(READY, RECONCILED, canary=canary("Progressing", 25)),
        "Progressing",
        "Canary v4 Progressing at weight 25%",
    ),
    (
        "canary promoting",
        route(READY, RECONCILED, canary=canary("Promoting", 100)),
        "Progressing",
        "Canary v4 Promoting at weight 100%",
    ),
    (
        "canary paused",
        route(READY, RECONCILED, canary=canary("Paused", 10)),
        "Suspended",
        "Canary v4 paused at weight 10%",
    ),
    (
        "canary rolled back",
        route(
            READY,
            RECONCILED,
            canary={**canary("RolledBack", 0), "message": "agreement 0.41 < 0.80"},
        ),
        "Degraded",
        "Canary v4 rolled back: agreement 0.41 < 0.80",
    ),
    (
        "canary succeeded",
        route(READY, RECONCILED, canary=canary("Succeeded", 100)),
        "Healthy",
        "RouterServing",
    ),
    ("no canary yet", route(READY, RECONCILED, canary=canary("Idle", 0)), "Healthy", "Router"),
    (
        "a condition without reason or message",
        route({"type": "Ready", "status": "False", "observedGeneration": 2}),
        "Progressing",
        "Ready",
    ),
]


def test_every_phase_maps_to_the_argo_cd_health_status(runner: Path) -> None:
    results = health(runner, *(obj for _, obj, _, _ in CASES))
    assert len(results) == len(CASES)
    for (name, _, status, message), got in zip(CASES, results, strict=True):
        assert "error" not in got, f"{name}: {got}"
        assert got["status"] == status, f"{name}: {got}"
        assert message in got["message"], f"{name}: {got}"


def test_a_script_error_is_reported_not_hidden(runner: Path, tmp_path: Path) -> None:
    """The runner reports a Lua error (Argo CD shows it as the resource's health error)."""
    broken = tmp_path / "broken.lua"
    broken.write_text(SCRIPT.read_text(encoding="utf-8").replace("ipairs(", "ipairz(", 1))
    [got] = health(runner, route(READY, RECONCILED), script=broken)
    assert "attempt to call a non-function object" in got["error"]


def test_the_docs_show_exactly_the_tested_script() -> None:
    doc = (ROOT / "docs" / "gitops.md").read_text(encoding="utf-8")
    script = SCRIPT.read_text(encoding="utf-8")
    embedded = "\n".join("    " + line if line else "" for line in script.splitlines())
    assert embedded in doc
