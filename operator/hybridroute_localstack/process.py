"""Start, watch and stop one component process, with its log in a file.

Each component runs in its own session (process group), so teardown signals the whole
group; under pytest the child also asks the kernel to kill it when its parent dies
(``PR_SET_PDEATHSIG``), so even a killed test run leaves nothing running.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
TAIL_LINES = 40
# A free port picked at run time can be taken before the component binds it: retry.
PORT_ATTEMPTS = 3
PORT_IN_USE = "address already in use"


class ComponentFailed(RuntimeError):
    """A component exited or did not become ready in time; carries its log tail."""


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``path``, or a note that it has none."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def stop_group(pgid: int, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left after ``grace`` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not process_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return


@dataclass
class Component:
    """A running component: its name, process and log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    command: tuple[str, ...] = field(default=())

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        return tail(self.log, lines)

    def failure(self, why: str) -> ComponentFailed:
        return ComponentFailed(f"{self.name} {why}; log {self.log}:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is None:
            stop_group(self.process.pid, grace)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(
    name: str,
    command: Sequence[str],
    log: Path,
    *,
    die_with_parent: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Component:
    """Start ``command`` in a new session with stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
            cwd=cwd,
            env=env,
        )
    return Component(name=name, process=process, log=log, command=tuple(command))


def wait_until(
    component: Component,
    check: Callable[[], bool],
    what: str,
    timeout: float,
    interval: float = 0.2,
) -> None:
    """Poll ``check`` until it is true; fail fast with the log if the process exits.

    Raises :class:`ComponentFailed` (with the log tail) when the process dies or
    ``timeout`` seconds pass; never waits longer than that.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not component.running():
            raise component.failure(
                f"exited with code {component.process.returncode} before {what}"
            )
        if check():
            return
        if time.monotonic() >= deadline:
            raise component.failure(f"was not {what} after {timeout:.0f}s")
        time.sleep(interval)
