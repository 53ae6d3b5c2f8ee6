"""`hybridroute-local down` stops only what `up` recorded, never a recycled pid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hybridroute_localstack import state

pytestmark = pytest.mark.unit


def run_state(pid: int, binary: str) -> state.RunState:
    return state.RunState(
        server="https://127.0.0.1:6443",
        kubeconfig="/run/kubeconfig",
        logs_dir="/run/logs",
        components=(state.RecordedComponent("etcd", pid, binary, "/run/logs/etcd.log"),),
    )


def test_state_round_trips_through_the_state_file(tmp_path: Path) -> None:
    recorded = run_state(4242, "/cache/etcd")
    state.save(recorded, tmp_path)
    assert state.load(tmp_path) == recorded


def test_no_state_file_means_nothing_runs(tmp_path: Path) -> None:
    assert state.load(tmp_path) is None


def test_a_recycled_pid_running_another_program_is_left_alone() -> None:
    recycled = run_state(os.getpid(), "/cache/kubernetes-v1.36.3/kube-apiserver")
    assert recycled.alive() == {"etcd": False}
    assert state.stop_recorded(recycled) == []


def test_a_live_pid_running_the_recorded_binary_counts_as_running() -> None:
    ours = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()
    assert run_state(os.getpid(), ours).alive() == {"etcd": True}


def test_state_lives_in_the_checkout_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYBRIDROUTE_STATE_DIR", raising=False)
    checkout = Path(__file__).resolve().parents[2]
    assert state.default_state_dir() == checkout / ".local" / "localstack"
    monkeypatch.setenv("HYBRIDROUTE_STATE_DIR", "/elsewhere")
    assert state.default_state_dir() == Path("/elsewhere")
