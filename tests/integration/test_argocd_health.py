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
from hroute_status_cases import CASES, READY, RECONCILED, route

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
