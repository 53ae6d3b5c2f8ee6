"""The Argo CD health check of HybridRoute (docs/gitops/hybridroute-health.lua) run by
gopher-lua, the Lua interpreter Argo CD embeds (a small Go program, tests/argocd_health,
built from the Go module proxy), against status fixtures of every phase."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitops_runners import LUA_SCRIPT, ROOT, build, run
from hroute_status_cases import CASES, READY, RECONCILED, route

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("argocd_health", tmp_path_factory.mktemp("argocd-health"))


def test_every_phase_maps_to_the_argo_cd_health_status(runner: Path) -> None:
    results = run(runner, LUA_SCRIPT, [obj for _, obj, _, _ in CASES])
    assert len(results) == len(CASES)
    for (name, _, status, message), got in zip(CASES, results, strict=True):
        assert "error" not in got, f"{name}: {got}"
        assert got["status"] == status, f"{name}: {got}"
        assert message in got["message"], f"{name}: {got}"


def test_a_script_error_is_reported_not_hidden(runner: Path, tmp_path: Path) -> None:
    """The runner reports a Lua error (Argo CD shows it as the resource's health error)."""
    broken = tmp_path / "broken.lua"
    broken.write_text(LUA_SCRIPT.read_text(encoding="utf-8").replace("ipairs(", "ipairz(", 1))
    [got] = run(runner, broken, [route(READY, RECONCILED)])
    assert "attempt to call a non-function object" in got["error"]


def test_the_docs_show_exactly_the_tested_script() -> None:
    doc = (ROOT / "docs" / "gitops.md").read_text(encoding="utf-8")
    script = LUA_SCRIPT.read_text(encoding="utf-8")
    embedded = "\n".join("    " + line if line else "" for line in script.splitlines())
    assert embedded in doc
