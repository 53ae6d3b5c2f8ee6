"""The real Prometheus server (Debian's ``prometheus`` package) scraping loopback targets.

``PrometheusServer(workdir, targets).start()`` writes a scrape config, starts
``/usr/bin/prometheus`` on a free port with storage in ``workdir`` and waits for
``/-/ready``; ``query()`` runs an instant PromQL query through the HTTP API.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hybridroute_localstack.commands import prometheus_command
from hybridroute_localstack.probe import answers, free_port, http_get
from hybridroute_localstack.process import (
    PORT_ATTEMPTS,
    PORT_IN_USE,
    Component,
    ComponentFailed,
    start,
    wait_until,
)

PROMETHEUS_HELP = "install it with `apt-get install prometheus` (bash .ci/setup does)"
SCRAPE_INTERVAL = "1s"


class PrometheusMissing(RuntimeError):
    """No ``prometheus`` binary on PATH."""


def prometheus_binary() -> Path:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").is_file() else None
    )
    if found is None:
        raise PrometheusMissing(f"missing: prometheus; {PROMETHEUS_HELP}")
    return Path(found)


def scrape_config(targets: list[str], job: str, interval: str = SCRAPE_INTERVAL) -> dict[str, Any]:
    """A Prometheus configuration scraping ``targets`` (``host:port``, loopback only)."""
    for target in targets:
        host = target.rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "[::1]"):
            raise ValueError(f"scrape targets must be on loopback, not {target}")
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": job,
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "static_configs": [{"targets": list(targets)}],
            }
        ],
    }


def _loopback(target: str) -> bool:
    host = target.rsplit(":", 1)[0]
    return host in ("localhost", "[::1]") or host.startswith("127.")


def stack_scrape_config(
    static: dict[str, list[str]], file_sd: Path, interval: str = "2s"
) -> dict[str, Any]:
    """The local stack's Prometheus: one job per ``static`` entry (``job -> targets``)
    and job ``pods`` reading ``file_sd`` (a JSON list of target groups the pod runner
    rewrites as processes come and go; re-read every ``interval``)."""
    for targets in static.values():
        for target in targets:
            if not _loopback(target):
                raise ValueError(f"scrape targets must be on loopback, not {target}")
    jobs: list[dict[str, Any]] = [
        {"job_name": job, "static_configs": [{"targets": list(targets)}]}
        for job, targets in static.items()
    ]
    jobs.append(
        {
            "job_name": "pods",
            "file_sd_configs": [{"files": [str(file_sd)], "refresh_interval": interval}],
        }
    )
    return {
        "global": {
            "scrape_interval": interval,
            "evaluation_interval": interval,
            "scrape_timeout": interval,
        },
        "scrape_configs": jobs,
    }


@dataclass
class PrometheusServer:
    """One Prometheus process; ``url`` is its HTTP address once started."""

    workdir: Path
    targets: list[str]
    job: str = "test"
    die_with_parent: bool = True
    start_timeout: float = 60.0
    url: str = ""
    component: Component | None = field(default=None, repr=False)
    config: dict[str, Any] | None = None
    """A whole configuration (e.g. :func:`stack_scrape_config`) instead of ``targets``."""

    def start(self) -> PrometheusServer:
        """Start on a free port and wait for ``/-/ready``; a port taken meanwhile is retried."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        chosen = self.config if self.config is not None else scrape_config(self.targets, self.job)
        config.write_text(yaml.safe_dump(chosen))
        for attempt in range(PORT_ATTEMPTS):
            try:
                self._start_once(config)
                return self
            except ComponentFailed as failed:
                self.stop()
                if PORT_IN_USE not in str(failed) or attempt == PORT_ATTEMPTS - 1:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _start_once(self, config: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.component = start(
            "prometheus",
            prometheus_command(prometheus_binary(), config, self.workdir / "data", port),
            self.workdir / "prometheus.log",
            die_with_parent=self.die_with_parent,
        )
        wait_until(
            self.component,
            lambda: answers(f"{self.url}/-/ready"),
            "ready (/-/ready)",
            timeout=self.start_timeout,
        )

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The ``data.result`` vector of an instant query (empty when nothing matches)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = json.loads(http_get(url))
        if body.get("status") != "success":
            raise RuntimeError(f"PromQL {promql!r} failed: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def log_tail(self, lines: int = 40) -> str:
        return self.component.log_tail(lines) if self.component else "(not started)"

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        return {"prometheus": self.log_tail(lines)}

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop()


class PrometheusFactory:
    """``factory(targets, job="test")`` starts a Prometheus scraping ``targets``;
    ``stop()`` ends every server it started (the ``prometheus_server`` fixture)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._servers: list[PrometheusServer] = []

    def __call__(self, targets: list[str], job: str = "test") -> PrometheusServer:
        workdir = self._directory / f"prometheus-{len(self._servers)}"
        server = PrometheusServer(workdir, list(targets), job)
        self._servers.append(server)
        return server.start()

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        return {f"prometheus-{i}": server.log_tail(lines) for i, server in enumerate(self._servers)}

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
