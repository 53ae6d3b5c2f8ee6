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
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.probe import free_port

PORT_ATTEMPTS = 5  # a port picked free may be taken by another process before the bind
PORT_CLASH = "address already in use"
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
        self._log_offset = 0

    def start(self) -> ManagedProcess:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
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

    def _port_clashed(self) -> bool:
        """This run (not an earlier one in the same log) failed to bind its port."""
        if not self.log_path.exists():
            return False
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return PORT_CLASH in log.read().decode(errors="replace").lower()

    def start_on_free_port(self, flag: str, ready: Callable[[], object], what: str) -> int:
        """Start with a free port after ``flag``; if another process took that port
        before the bind, start again on another one. Returns the port once ``ready()``."""
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            self.command[self.command.index(flag) + 1] = str(port)
            ManagedProcess.start(self)  # the plain spawn (subclasses' start() call this method)

            def state() -> str | None:
                if self._port_clashed():
                    return "clash"
                if not self.running:
                    return "exited"
                ready()  # raises until it answers
                return "up"

            outcome = eventually(state, what, timeout=30)
            if outcome == "up":
                return port
            self.kill()
            if outcome == "exited":
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
        raise RuntimeError(f"{self.name}: no free port in {PORT_ATTEMPTS} attempts")

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
        self.metrics_port = 0  # chosen on start
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
            "0",
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
        def serving() -> bool:
            return "hybridroute_operator_" in http_text(self.url_for(self.metrics_port))

        def ready() -> bool:
            self.metrics_port = int(self.command[self.command.index("--metrics-port") + 1])
            if not serving():  # another process's port, not ours
                raise RuntimeError("not the operator's metrics")
            return True

        self.start_on_free_port("--metrics-port", ready, "operator metrics served")
        return self

    @staticmethod
    def url_for(port: int) -> str:
        return f"http://127.0.0.1:{port}/metrics"


class RouterProcess(ManagedProcess):
    def __init__(self, kubeconfig: Path, configmap: str, workdir: Path) -> None:
        self.port = 0  # chosen on start
        command = [
            str(BIN / "hybridroute-router"),
            "--policy-configmap",
            configmap,
            "--kubeconfig",
            str(kubeconfig),
            "--port",
            "0",
            "--decision-log",
            "off",
            "--log-level",
            "warning",
        ]
        super().__init__("router", command, workdir / "router.log")

    def start(self) -> RouterProcess:
        def alive() -> str:
            self.port = int(self.command[self.command.index("--port") + 1])
            return http_text(self.url + "/healthz")

        self.start_on_free_port("--port", alive, "router answering /healthz")
        return self

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


def account_kubeconfig(plane: ControlPlane, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig at ``path`` authenticating as ServiceAccount ``account`` (a token)."""
    token = plane.kubectl("create", "token", account, "-n", namespace).stdout.strip()
    config = yaml.safe_load(plane.kubeconfig.read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for ctx in config["contexts"]:
        ctx["context"]["user"] = account
    path.write_text(yaml.safe_dump(config))
    return path


def route_ready(plane: ControlPlane, namespace: str, route: str) -> bool:
    """The HybridRoute's Ready condition is True."""
    found = condition(get_json(plane, "hybridroute", route, "-n", namespace), "Ready")
    return bool(found and found["status"] == "True")


def router_rolled_out(plane: ControlPlane, namespace: str, route: str) -> bool:
    """The route's router Deployment is rolled out and available: its status stops
    changing, so it triggers no more (debounced) status refreshes of the route."""
    found = get_json(plane, "deployment", f"{route}-router", "-n", namespace)
    if found is None:
        return False
    want = (found.get("spec") or {}).get("replicas", 1)
    status = found.get("status") or {}
    return status.get("observedGeneration") == found["metadata"].get("generation") and all(
        status.get(field) == want for field in ("replicas", "updatedReplicas", "availableReplicas")
    )


def install_crd(plane: ControlPlane) -> None:
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    wait_established(plane, "hybridroutes.inferensys.io")


def install_monitoring_crd(plane: ControlPlane, kind: str, plural: str) -> None:
    """Just enough of a Prometheus Operator CRD (``monitoring.coreos.com``) for the API to
    serve the kind, applied and established."""
    name = f"{plural}.monitoring.coreos.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    plane.kubectl("apply", "-f", "-", input=json.dumps(crd))
    wait_established(plane, name)


def wait_established(plane: ControlPlane, crd: str) -> None:
    """Until the CRD is served. ``kubectl wait`` fails at once (not waits) while a just
    created CRD has no status.conditions yet, so it is retried."""

    def established() -> bool:
        args = ("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=10s")
        return plane.kubectl(*args, check=False).returncode == 0

    eventually(established, f"CRD {crd} established", timeout=60)


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
            # the traffic and thresholds of these tests are chosen on the heuristic's scale
            "policy": {"complexity": {"threshold": threshold, "scorer": "heuristic"}},
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


def apply_route(
    plane: ControlPlane, namespace: str, name: str, manifest: dict[str, Any] | None = None
) -> None:
    """The model Deployments of ``models_for(name)`` and a HybridRoute over them (by
    default ``route_manifest(name, app=name)``)."""
    apply(plane, namespace, *models_for(name), manifest or route_manifest(name, app=name))


def patch_spec(plane: ControlPlane, namespace: str, route: str, spec: dict[str, Any]) -> None:
    """``kubectl patch`` of a HybridRoute's spec: a JSON merge patch (``None`` removes)."""
    patch = json.dumps({"spec": spec})
    plane.kubectl("patch", "hybridroute", route, "-n", namespace, "--type=merge", "-p", patch)


@contextmanager
def crd_namespace(plane: ControlPlane, prefix: str) -> Iterator[str]:
    """A new namespace ``PREFIX-xxxxxx`` with the HybridRoute CRD installed; deleted on
    leaving (not waited for)."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", name)
    try:
        install_crd(plane)
        yield name
    finally:
        plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@contextmanager
def running_operator(
    plane: ControlPlane, namespace: str, workdir: Path, *extra: str
) -> Iterator[OperatorProcess]:
    """The operator, started; on leaving it is stopped and must have exited cleanly."""
    proc = OperatorProcess(plane, namespace, workdir, *extra).start()
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"operator did not shut down cleanly (exit {code})\n{proc.log_tail()}"
