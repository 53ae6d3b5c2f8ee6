"""The Flux health check expressions for HybridRoute (docs/gitops/flux-healthcheckexprs.yaml)
evaluated the way Flux's kustomize-controller does (cel-go with Flux's environment options,
RFC 0009 order: a small Go program, tests/flux_health) against the status of every phase."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from gitops_runners import FLUX_EXPRS, ROOT, build, flux_exprs, run, write_exprs
from hroute_status_cases import CASES, READY, route

pytestmark = pytest.mark.integration

# What Flux makes of each phase (Argo CD's view is in hroute_status_cases.CASES).
EXPECTED = {
    "never observed": "error",  # no status yet: Flux reports the error and keeps waiting
    "spec changed, not observed yet": "InProgress",
    "Ready written for an older generation": "InProgress",
    "serving": "Current",
    "serving with a version that has no pods": "Current",
    "router pods starting": "InProgress",
    "large model without ready endpoints": "InProgress",
    "a referenced Service missing": "Failed",
    "invalid spec": "Failed",
    "canary pending": "Current",
    "canary progressing": "Current",
    "canary promoting": "Current",
    "canary paused": "Current",
    "canary rolled back": "Failed",
    "canary succeeded": "Current",
    "no canary yet": "Current",
    "a condition without reason or message": "InProgress",
}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("flux_health", tmp_path_factory.mktemp("flux-health"))


def test_every_phase_maps_to_the_flux_health_status(runner: Path) -> None:
    assert set(EXPECTED) == {name for name, _, _, _ in CASES}
    exprs = write_exprs(runner.parent, flux_exprs())
    results = run(runner, exprs, [obj for _, obj, _, _ in CASES])
    for (name, _, _, _), got in zip(CASES, results, strict=True):
        wanted = EXPECTED[name]
        if wanted == "error":
            assert "no such attribute" in got.get("error", ""), f"{name}: {got}"
        else:
            assert got == {"status": wanted}, f"{name}: {got}"


def test_an_expression_that_does_not_parse_is_refused(runner: Path) -> None:
    exprs = {**flux_exprs(), "current": "status.conditions.exists(c, "}
    path = write_exprs(runner.parent, exprs, "broken.json")
    out = subprocess.run(
        [str(runner), str(path)],
        input=json.dumps(route(READY)) + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0
    assert "parse" in out.stderr


def test_the_docs_show_exactly_the_tested_expressions() -> None:
    doc = (ROOT / "docs" / "gitops.md").read_text(encoding="utf-8")
    text = FLUX_EXPRS.read_text(encoding="utf-8")
    embedded = "\n".join("    " + line if line else "" for line in text.splitlines())
    assert "  healthCheckExprs:\n" + embedded in doc
