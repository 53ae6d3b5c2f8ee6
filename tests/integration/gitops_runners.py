"""The GitOps health checks of docs/gitops.md run by the interpreters Argo CD and Flux use:
gopher-lua (tests/argocd_health) and cel-go with Flux's options (tests/flux_health), small
Go programs built here from the Go module proxy (.ci/setup downloads their modules)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
LUA_SCRIPT = ROOT / "docs" / "gitops" / "hybridroute-health.lua"
FLUX_EXPRS = ROOT / "docs" / "gitops" / "flux-healthcheckexprs.yaml"


def build(module: str, directory: Path) -> Path:
    """``go build`` of tests/<module> into ``directory``; skipped without Go."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go missing (bash .ci/setup needs it for the local control plane)")
    binary = directory / module
    subprocess.run(
        [go, "build", "-buildvcs=false", "-o", str(binary), "."],
        cwd=ROOT / "tests" / module,
        check=True,
        timeout=280,
        env={**os.environ, "CGO_ENABLED": "0"},
    )
    return binary


def run(binary: Path, config: Path, objects: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One result per object: {"status", "message"?} or {"error"}."""
    out = subprocess.run(
        [str(binary), str(config)],
        input="".join(json.dumps(o) + "\n" for o in objects),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def flux_exprs() -> dict[str, str]:
    """The documented healthCheckExprs entry for HybridRoute."""
    [entry] = yaml.safe_load(FLUX_EXPRS.read_text(encoding="utf-8"))
    assert (entry["apiVersion"], entry["kind"]) == ("inferensys.io/v1alpha1", "HybridRoute")
    return {key: entry[key] for key in ("current", "failed", "inProgress")}


def write_exprs(directory: Path, exprs: dict[str, str], name: str = "exprs.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(exprs))
    return path
