"""What ``hybridroute-local up`` leaves behind so that ``down``/``status``/``env`` find it.

A detached control plane is described by ``state.json`` in the state directory:
the API server URL, the kubeconfig, and each component's pid, binary and log.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from hybridroute_localstack.build import cache_root
from hybridroute_localstack.controlplane import ControlPlane
from hybridroute_localstack.process import process_alive, stop_group

STATE_FILE = "state.json"


def default_state_dir() -> Path:
    """``$HYBRIDROUTE_STATE_DIR``, else ``.local/localstack`` in a source checkout,
    else ``~/.cache/hybridroute/run``."""
    configured = os.environ.get("HYBRIDROUTE_STATE_DIR")
    if configured:
        return Path(configured).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "operator").is_dir():
        return checkout / ".local" / "localstack"
    return cache_root() / "run"


@dataclass(frozen=True)
class RecordedComponent:
    name: str
    pid: int
    binary: str
    log: str


@dataclass(frozen=True)
class RunState:
    server: str
    kubeconfig: str
    logs_dir: str
    components: tuple[RecordedComponent, ...]

    def alive(self) -> dict[str, bool]:
        return {c.name: _is_ours(c) for c in self.components}


def _is_ours(component: RecordedComponent) -> bool:
    """The pid is alive and still runs the recorded binary (not a recycled pid)."""
    if not process_alive(component.pid):
        return False
    try:
        cmdline = Path(f"/proc/{component.pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return cmdline.decode(errors="replace") == component.binary


def record(plane: ControlPlane) -> RunState:
    return RunState(
        server=plane.server,
        kubeconfig=str(plane.kubeconfig),
        logs_dir=str(plane.logs_dir),
        components=tuple(
            RecordedComponent(c.name, c.pid, c.command[0], str(c.log)) for c in plane.components
        ),
    )


def save(state: RunState, directory: Path) -> Path:
    path = directory / STATE_FILE
    path.write_text(json.dumps(asdict(state), indent=2) + "\n")
    return path


def load(directory: Path) -> RunState | None:
    path = directory / STATE_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    return RunState(
        server=raw["server"],
        kubeconfig=raw["kubeconfig"],
        logs_dir=raw["logs_dir"],
        components=tuple(RecordedComponent(**c) for c in raw["components"]),
    )


def stop_recorded(state: RunState) -> list[str]:
    """Stop every recorded component that still runs, newest first; their names."""
    stopped = []
    for component in reversed(state.components):
        if _is_ours(component):
            stop_group(component.pid)
            stopped.append(component.name)
    return stopped
