"""`hybridroute-local up/status/env/down` runs a control plane outside pytest and
`down` leaves nothing running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hybridroute_localstack.controlplane import kubectl_binary
from hybridroute_localstack.process import process_alive

pytestmark = pytest.mark.integration


def hybridroute_local(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HYBRIDROUTE_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [sys.executable, "-m", "hybridroute_localstack.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_up_status_env_and_down_manage_a_detached_control_plane(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    up = hybridroute_local(state_dir, "up")
    try:
        assert up.returncode == 0, up.stderr
        kubeconfig = state_dir / "kubeconfig"
        assert f"export KUBECONFIG={kubeconfig}" in up.stdout

        pids = [c["pid"] for c in json.loads((state_dir / "state.json").read_text())["components"]]
        assert len(pids) == 2
        assert all(process_alive(pid) for pid in pids)

        status = hybridroute_local(state_dir, "status")
        assert status.returncode == 0
        assert "kube-apiserver /readyz   ok" in status.stdout

        again = hybridroute_local(state_dir, "up")
        assert again.returncode == 0
        assert "already running" in again.stdout

        env = hybridroute_local(state_dir, "env")
        assert env.stdout.splitlines()[0] == f"export KUBECONFIG={kubeconfig}"
        namespaces = subprocess.run(
            [
                kubectl_binary(),
                f"--kubeconfig={kubeconfig}",
                "get",
                "namespace",
                "default",
                "-o",
                "name",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert namespaces.stdout.strip() == "namespace/default"
    finally:
        down = hybridroute_local(state_dir, "down")
    assert down.returncode == 0
    assert "stopped: kube-apiserver, etcd" in down.stdout
    assert not any(process_alive(pid) for pid in pids)
    assert hybridroute_local(state_dir, "status").returncode == 1
