"""Start replay model servers as processes: the Python API tests and the local stack use.

    from hybridroute_localstack.replay import Behaviour, start_replay_server

    large = start_replay_server(tmp_path, Behaviour("large", capacity=4))
    bad = start_replay_server(tmp_path, Behaviour("small", disagree=True, error_rate=0.1))
    large.base_url      # http://127.0.0.1:PORT/v1, for a HybridRoute endpoint.url
    large.metrics_url   # vLLM-style /metrics, for a Prometheus scrape target
    large.stats()       # {"requests", "unknown", "errors", "running", "waiting", ...}
    large.stop()

Each server is its own process group (``process.start``), killed with its parent.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridroute_localstack.probe import answers, free_port, http_get
from hybridroute_localstack.process import (
    PORT_ATTEMPTS,
    PORT_IN_USE,
    Component,
    ComponentFailed,
    start,
    wait_until,
)
from hybridroute_localstack.replay.behaviour import Behaviour
from hybridroute_localstack.replaybook import OVERLAPPING

SERVER_MODULE = "hybridroute_localstack.replay.server"


def replay_arguments(behaviour: Behaviour) -> list[str]:
    """The server's options for ``behaviour`` (unset knobs keep the role's defaults)."""
    b = behaviour
    args = ["--role", b.role, "--load-slowdown", str(b.load_slowdown)]
    for flag, value, unset in (
        ("--model", b.model, ""),
        ("--capacity", b.capacity, 0),
        ("--ttft-ms", b.ttft_ms, -1.0),
        ("--ms-per-token", b.ms_per_token, -1.0),
        ("--rationale-words", b.rationale_words, -1),
        ("--error-rate", b.error_rate, 0.0),
        ("--extra-latency-ms", b.extra_latency_ms, 0.0),
    ):
        if value != unset:
            args += [flag, str(value)]
    if b.disagree:
        args.append("--disagree")
    for option, (low, high), default in (
        ("--right-logprobs", b.logprobs.right, OVERLAPPING.right),
        ("--wrong-logprobs", b.logprobs.wrong, OVERLAPPING.wrong),
    ):
        if (low, high) != default:
            args += [option, str(low), str(high)]
    return args


def replay_command(
    behaviour: Behaviour, host: str, port: int, data: list[Path] | None = None
) -> list[str]:
    """The command line of one replay server (this interpreter, ``-m`` the module)."""
    command = [sys.executable, "-m", SERVER_MODULE, *replay_arguments(behaviour)]
    for path in data or []:
        command += ["--data", str(path)]
    return [*command, "--host", host, "--port", str(port)]


@dataclass
class ReplayServerProcess:
    """A running replay server."""

    behaviour: Behaviour
    host: str
    port: int
    component: Component

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.address}/v1"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.address}/metrics"

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = json.loads(http_get(f"http://{self.address}/replay/stats"))
        return stats

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        return {self.component.name: self.component.log_tail(lines)}

    def stop(self) -> None:
        self.component.stop()


def start_replay_server(
    workdir: Path,
    behaviour: Behaviour,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    data: list[Path] | None = None,
    name: str | None = None,
    die_with_parent: bool = True,
    timeout: float = 30.0,
) -> ReplayServerProcess:
    """Start one replay server (a free port unless given) and wait until it answers."""
    label = name or f"replay-{behaviour.role}"
    for attempt in range(PORT_ATTEMPTS):
        chosen = port or free_port()
        component = start(
            label,
            replay_command(behaviour, host, chosen, data),
            workdir / f"{label}-{chosen}.log",
            die_with_parent=die_with_parent,
        )
        try:
            wait_until(
                component,
                lambda p=chosen: answers(f"http://{host}:{p}/health"),  # type: ignore[misc]
                "answering /health",
                timeout=timeout,
            )
        except ComponentFailed as failed:
            component.stop()
            if port is not None or PORT_IN_USE not in str(failed) or attempt == PORT_ATTEMPTS - 1:
                raise
            continue
        return ReplayServerProcess(behaviour, host, chosen, component)
    raise AssertionError("unreachable")
