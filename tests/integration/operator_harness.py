"""Real processes for the operator's integration tests: ``hybridroute-operator`` and
``hybridroute-router`` as subprocesses against the local control plane, plus small
kubectl helpers. Waiting is always polling with a deadline (``eventually``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.probe import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CRD = ROOT / "crds" / "hybridroute.yaml"
EXAMPLE = ROOT / "examples" / "02-hybridroute"


def http_text(url: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


def metric_value(text: str, name: str, labels: str = "") -> float | None:
    """The value of one sample in Prometheus text format (labels as written, or none)."""
    total = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == name + (f"{{{labels}}}" if labels else "") or (
            not labels and key.startswith(name + "{")
        ):
            total = (total or 0.0) + float(value)
    return total


class ManagedProcess:
    """A subprocess in its own process group, logging to a file."""

    def __init__(self, name: str, command: list[str], log_path: Path) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a node dies."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM and wait (graceful shutdown); SIGKILL after ``grace`` seconds."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class OperatorProcess(ManagedProcess):
    def __init__(
        self,
        plane: ControlPlane,
        namespace: str,
        workdir: Path,
        *extra: str,
        name: str = "operator",
    ) -> None:
        self.metrics_port = free_port()
        peering = [] if any(a.startswith("--peering") for a in extra) else ["--standalone"]
        command = [
            str(BIN / "hybridroute-operator"),
            "--kubeconfig",
            str(plane.kubeconfig),
            "--namespace",
            namespace,
            *peering,
            "--metrics-host",
            "127.0.0.1",
            "--metrics-port",
            str(self.metrics_port),
            "--health-port",
            "0",
            "--resync-seconds",
            "5",
            "--retry-seconds",
            "1",
            *extra,
        ]
        super().__init__(name, command, workdir / f"{name}.log")

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def metrics(self) -> str:
        return http_text(self.metrics_url)

    def start(self) -> OperatorProcess:
        super().start()
        eventually(lambda: self.running and self.metrics(), "operator metrics served", timeout=30)
        return self


class RouterProcess(ManagedProcess):
    def __init__(self, kubeconfig: Path, configmap: str, workdir: Path) -> None:
        self.port = free_port()
        command = [
            str(BIN / "hybridroute-router"),
            "--policy-configmap",
            configmap,
            "--kubeconfig",
            str(kubeconfig),
            "--port",
            str(self.port),
            "--decision-log",
            "off",
            "--log-level",
            "warning",
        ]
        super().__init__("router", command, workdir / "router.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(http_text(self.url + "/readyz"))
        return body

    def threshold(self, route: str) -> float | None:
        return metric_value(
            http_text(self.url + "/metrics"), "hybridroute_policy_threshold", f'route="{route}"'
        )


def get_json(plane: ControlPlane, *args: str) -> dict[str, Any] | None:
    result = plane.kubectl("get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def condition(route: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in ((route or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return None


def install_crd(plane: ControlPlane) -> None:
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    plane.kubectl(
        "wait", "--for=condition=Established", "crd/hybridroutes.inferensys.io", "--timeout=60s"
    )


def model_deployment(name: str, labels: dict[str, str], replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "image": "registry.test/model:1",
                            "ports": [{"containerPort": 8000}],
                        }
                    ]
                },
            },
        },
    }


def route_manifest(
    name: str, *, app: str, threshold: float = 0.5, weights: tuple[int, int] = (90, 10)
) -> dict[str, Any]:
    """A HybridRoute over models labelled app=<app>-large / app=<app>-small,version=v1|v2."""
    return {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": name},
        "spec": {
            "large": {
                "model": "big",
                "endpoint": {"selector": {"app": f"{app}-large"}, "port": 8000},
            },
            "small": {
                "model": "student",
                "versions": [
                    {
                        "name": "v1",
                        "weight": weights[0],
                        "endpoint": {
                            "selector": {"app": f"{app}-small", "version": "v1"},
                            "port": 8000,
                        },
                    },
                    {
                        "name": "v2",
                        "weight": weights[1],
                        "endpoint": {
                            "selector": {"app": f"{app}-small", "version": "v2"},
                            "port": 8000,
                        },
                    },
                ],
            },
            "policy": {"complexity": {"threshold": threshold}},
            "router": {"replicas": 1},
        },
    }


def models_for(app: str) -> list[dict[str, Any]]:
    return [
        model_deployment(f"{app}-large", {"app": f"{app}-large"}),
        model_deployment(f"{app}-small-v1", {"app": f"{app}-small", "version": "v1"}),
        model_deployment(f"{app}-small-v2", {"app": f"{app}-small", "version": "v2"}),
    ]


def apply(
    plane: ControlPlane, namespace: str, *objects: dict[str, Any], check: bool = True
) -> subprocess.CompletedProcess[str]:
    doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    return plane.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(doc), check=check)
