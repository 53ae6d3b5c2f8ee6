"""Build planning: pinned versions, one go invocation per tool, cache by version, and
clear messages when go is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hybridroute_localstack import build
from hybridroute_localstack.versions import (
    ALL_TOOLS,
    ETCD,
    HELM,
    KUBERNETES,
    KUBERNETES_VERSION,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HYBRIDROUTE_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_kube_binaries_are_built_in_one_go_build_with_version_ldflags() -> None:
    command = build.go_command("go", KUBERNETES, Path("/out"))
    assert command[:2] == ["go", "build"]
    assert "-trimpath" in command
    assert [p for p in command if p.startswith("k8s.io/kubernetes/cmd/")] == [
        "k8s.io/kubernetes/cmd/kube-apiserver",
        "k8s.io/kubernetes/cmd/kube-controller-manager",
        "k8s.io/kubernetes/cmd/kube-scheduler",
        "k8s.io/kubernetes/cmd/kubectl",
    ]
    ldflags = command[command.index("-ldflags") + 1]
    assert f"k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}" in ldflags
    assert f"k8s.io/client-go/pkg/version.gitVersion={KUBERNETES_VERSION}" in ldflags
    assert "k8s.io/component-base/version.gitMinor=36" in ldflags


def test_wrapper_modules_pin_kubernetes_staging_modules_and_etcd_35() -> None:
    kube_mod = (build.gomod_dir(KUBERNETES) or Path()).joinpath("go.mod").read_text()
    assert f"k8s.io/kubernetes {KUBERNETES_VERSION}" in kube_mod
    staging = KUBERNETES_VERSION.replace("v1.", "v0.", 1)
    for module in ("k8s.io/api", "k8s.io/apiserver", "k8s.io/client-go", "k8s.io/kubectl"):
        assert f"{module} => {module} {staging}" in kube_mod
    etcd_mod = (build.gomod_dir(ETCD) or Path()).joinpath("go.mod").read_text()
    assert "go.etcd.io/etcd/server/v3 v3.5." in etcd_mod
    assert (build.gomod_dir(ETCD) or Path()).joinpath("go.sum").is_file()


def test_tools_without_wrapper_module_use_go_install_at_the_pinned_version() -> None:
    command = build.go_command("go", HELM, Path("/out"))
    assert command[:2] == ["go", "install"]
    assert command[-1] == f"helm.sh/helm/v3/cmd/helm@{HELM.version}"


def test_cache_directory_is_keyed_by_version_outside_the_repository(cache: Path) -> None:
    assert build.tool_dir(ETCD) == cache / "bin" / f"etcd-{ETCD.version}"


def test_cached_tools_cost_no_go_invocation(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for tool in ALL_TOOLS:
        directory = build.tool_dir(tool)
        directory.mkdir(parents=True)
        for binary in tool.binaries:
            (directory / binary).write_text("#!/bin/sh\n")
    monkeypatch.setenv("PATH", "/nonexistent")
    said: list[str] = []
    build.build_all(say=said.append)
    assert len(said) == len(ALL_TOOLS)
    assert all("cached" in line for line in said)
    assert build.find_binary("kube-apiserver") == build.tool_dir(KUBERNETES) / "kube-apiserver"


def test_missing_go_stops_with_what_is_missing_and_how_to_get_it(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(build.BuildError, match=r"missing: go .*install Go >= 1\.26"):
        build.build_all(say=lambda _: None)


def test_a_binary_not_built_yet_says_to_run_the_build(cache: Path) -> None:
    with pytest.raises(build.MissingBinaryError, match="run `hybridroute-local build`"):
        build.find_binary("etcd")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("go1.26.8", (1, 26)), ("go1.22.0\n", (1, 22)), ("devel +abc", None)],
)
def test_go_version_is_parsed_from_goversion(text: str, expected: tuple[int, int] | None) -> None:
    assert build.parse_go_version(text) == expected
