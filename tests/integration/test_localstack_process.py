"""Component processes fail fast with their log, time out instead of hanging, and
leave nothing running after stop (the whole process group goes)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hybridroute_localstack import ComponentFailed, eventually
from hybridroute_localstack.process import process_alive, start, wait_until

pytestmark = pytest.mark.integration


def test_a_component_that_exits_fails_fast_with_its_log_tail(tmp_path: Path) -> None:
    component = start(
        "broken",
        ["sh", "-c", "echo 'listen tcp: address already taken'; exit 3"],
        tmp_path / "broken.log",
    )
    started = time.monotonic()
    with pytest.raises(ComponentFailed) as failed:
        wait_until(component, lambda: False, "ready", timeout=60)
    assert time.monotonic() - started < 30
    message = str(failed.value)
    assert "broken exited with code 3 before ready" in message
    assert "listen tcp: address already taken" in message


def test_a_component_that_never_gets_ready_times_out_with_its_log(tmp_path: Path) -> None:
    component = start(
        "stuck",
        [
            sys.executable,
            "-c",
            "print('waiting for etcd', flush=True); import time; time.sleep(600)",
        ],
        tmp_path / "stuck.log",
    )
    try:
        with pytest.raises(ComponentFailed) as failed:
            wait_until(component, lambda: False, "ready", timeout=1.5)
        assert "stuck was not ready after 2s" in str(failed.value)
        assert "waiting for etcd" in str(failed.value)
    finally:
        component.stop()
    assert not component.running()


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    script = f"sleep 600 & echo $! > {pid_file}; wait"
    component = start("parent", ["sh", "-c", script], tmp_path / "parent.log")
    # The shell creates the file before it writes the pid: wait for the whole line.
    wait_until(
        component,
        lambda: pid_file.exists() and pid_file.read_text().endswith("\n"),
        "spawned its child",
        timeout=10,
    )
    grandchild = int(pid_file.read_text())
    assert process_alive(grandchild)

    component.stop(grace=5)

    assert not component.running()
    assert not process_alive(grandchild)


def test_components_die_with_a_killed_test_run(tmp_path: Path) -> None:
    pid_file = tmp_path / "component.pid"
    runner = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from hybridroute_localstack.process import start\n"
        f"c = start('sleeper', ['sleep', '600'], Path({str(tmp_path)!r}) / 'sleeper.log')\n"
        f"Path({str(pid_file)!r}).write_text(str(c.pid))\n"
        "time.sleep(600)\n"
    )
    test_run = subprocess.Popen([sys.executable, "-c", runner])
    try:
        eventually(lambda: pid_file.is_file() and pid_file.read_text(), "started", timeout=30)
        component = int(pid_file.read_text())
        assert process_alive(component)
    finally:
        test_run.kill()
        test_run.wait()
    eventually(lambda: not process_alive(component), "gone with its parent", timeout=10)
