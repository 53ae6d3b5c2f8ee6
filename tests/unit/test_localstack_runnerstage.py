"""Who holds a pod runner's kwok Stage: this process, one that is gone, or a recycled
pid (another process now runs under it), read from /proc as the runner reads it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hybridroute_localstack.runnerstage import (
    HOLDER_ANNOTATION,
    held_stage,
    holder_alive,
    this_holder,
)

pytestmark = pytest.mark.unit


def test_a_holder_is_alive_only_while_the_same_process_runs() -> None:
    assert holder_alive(this_holder())
    pid, _, started = this_holder().partition("/")
    assert pid == str(os.getpid())
    assert started.isdigit()
    assert not holder_alive(f"{pid}/{int(started) + 1}")  # the pid, but another process
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert not holder_alive(f"{gone}/{started}")
    assert not holder_alive(None)
    assert not holder_alive("not-a-pid")


def test_the_stage_a_runner_applies_names_its_holder() -> None:
    stage = held_stage(["b", "a"])
    assert stage["metadata"]["annotations"] == {HOLDER_ANNOTATION: this_holder()}
    assert stage["metadata"]["name"] == "hybridroute-pod-runner-a-b"
