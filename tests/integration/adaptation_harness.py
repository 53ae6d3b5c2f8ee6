"""Real parts for the load-adaptation tests: a Prometheus (Debian's) on a fixed loopback
port whose targets are a file (file_sd, so routers started later join it) and which can
be stopped and started again at the same address; an open-loop load generator speaking
the OpenAI API to a router; small helpers to read a HybridRoute's adaptation status."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.commands import prometheus_command
from hybridroute_localstack.probe import answers, free_port, http_get
from hybridroute_localstack.process import Component, start
from hybridroute_localstack.prometheus import prometheus_binary
from operator_harness import get_json

SCRAPE = "1s"


@dataclass
class FilePrometheus:
    """Prometheus scraping the targets written with ``set_targets`` every second."""

    workdir: Path
    port: int = field(default_factory=free_port)
    component: Component | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FilePrometheus:
        self.workdir.mkdir(parents=True, exist_ok=True)
        targets = self.workdir / "targets.json"
        if not targets.exists():
            targets.write_text("[]")
        config = self.workdir / "prometheus.yml"
        job = {
            "job_name": "hybridroute",
            "scrape_interval": SCRAPE,
            "scrape_timeout": SCRAPE,
            "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}],
        }
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": SCRAPE, "evaluation_interval": SCRAPE},
                    "scrape_configs": [job],
                }
            )
        )
        command = prometheus_command(prometheus_binary(), config, self.workdir / "data", self.port)
        self.component = start("prometheus", command, self.workdir / "prometheus.log")
        eventually(lambda: answers(f"{self.url}/-/ready"), "Prometheus ready", timeout=60)
        return self

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop()
            self.component = None

    def set_targets(self, groups: list[dict[str, Any]]) -> None:
        """file_sd groups: ``[{"targets": ["127.0.0.1:port"], "labels": {...}}]``."""
        path = self.workdir / "targets.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        tmp.replace(path)

    def add_target(self, address: str, **labels: str) -> None:
        path = self.workdir / "targets.json"
        groups = json.loads(path.read_text()) if path.exists() else []
        self.set_targets([*groups, {"targets": [address], "labels": labels}])

    def query(self, promql: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = json.loads(http_get(url))
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def scraping(self, address: str) -> bool:
        return self.value(f'up{{instance="{address}"}}') == 1.0

    def log_tails(self, lines: int = 40) -> dict[str, str]:
        return {"prometheus": self.component.log_tail(lines) if self.component else "(stopped)"}


@contextmanager
def running_prometheus(workdir: Path) -> Iterator[FilePrometheus]:
    """A started :class:`FilePrometheus` in ``workdir``, stopped on leaving."""
    prom = FilePrometheus(workdir).start()
    try:
        yield prom
    finally:
        prom.stop()


@dataclass
class Load:
    """Open-loop load: ``rate`` chat completions a second to ``url`` from a pool of
    threads, each prompt drawn in turn from ``prompts``; answers are tallied by the
    router's x-hybridroute-model header (and tier when one is sent)."""

    url: str
    rate: float
    prompts: list[str]
    model: str = "hybrid"  # the route's public model (its name unless the policy says)
    headers: dict[str, str] = field(default_factory=dict)
    workers: int = 48
    counts: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _epoch: tuple[float, int] = (0.0, 0)  # (time, requests sent) the rate counts from
    _sent: int = 0

    def start(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def set_rate(self, rate: float) -> None:
        """Change the offered rate from now on (a load ramp)."""
        with self._lock:
            self._epoch = (time.monotonic(), self._sent)
            self.rate = rate

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        with (
            httpx.Client(base_url=self.url, timeout=60) as client,
            ThreadPoolExecutor(self.workers) as pool,
        ):
            self._epoch = (time.monotonic(), 0)
            while not self._stop.is_set():
                with self._lock:
                    (started, base), rate, sent = self._epoch, self.rate, self._sent
                due = started + (sent - base) / rate
                if (wait := due - time.monotonic()) > 0:
                    self._stop.wait(min(wait, 0.1))
                    continue
                pool.submit(self._one, client, self.prompts[sent % len(self.prompts)])
                with self._lock:
                    self._sent += 1

    def _one(self, client: httpx.Client, prompt: str) -> None:
        try:
            response = client.post(
                "/v1/chat/completions",
                json={"model": self.model, "messages": [{"role": "user", "content": prompt}]},
                headers=self.headers,
            )
            key = f"{response.status_code}:{response.headers.get('x-hybridroute-model')}"
        except httpx.HTTPError as exc:
            key = type(exc).__name__
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1


def adaptation_of(plane: ControlPlane, namespace: str, route: str) -> dict[str, Any]:
    obj = get_json(plane, "hybridroute", route, "-n", namespace) or {}
    section: dict[str, Any] = (obj.get("status") or {}).get("adaptation") or {}
    return section


def threshold_of(plane: ControlPlane, namespace: str, route: str) -> float | None:
    value = adaptation_of(plane, namespace, route).get("effectiveThreshold")
    return None if value is None else float(value)


def events_of(plane: ControlPlane, namespace: str, route: str, reason: str) -> list[str]:
    body = get_json(
        plane,
        "events",
        "-n",
        namespace,
        "--field-selector",
        f"involvedObject.name={route},reason={reason}",
    )
    return [str(e.get("message", "")) for e in (body or {}).get("items", [])]
