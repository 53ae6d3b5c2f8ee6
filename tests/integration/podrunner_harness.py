"""What the pod runner's tests share: a namespace and a runner for it, pods whose process
is a small real server on loopback (gated by a file of the test, or one that accepts
and never answers), and how the API server sees their readiness."""

from __future__ import annotations

import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hybridroute_localstack import ControlPlane
from hybridroute_localstack.kubeapi import KubeApi
from hybridroute_localstack.podrunner import PodRunner
from hybridroute_localstack.readiness import READY_ANNOTATION


def new_namespace(cluster: ControlPlane) -> Iterator[str]:
    """A fresh namespace (for a fixture: ``yield from new_namespace(cluster)``)."""
    name = f"runner-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def started_runner(
    cluster: ControlPlane, namespaces: list[str], workdir: Path
) -> Iterator[PodRunner]:
    """A pod runner for ``namespaces``, stopped afterwards (for a fixture)."""
    api = KubeApi.from_kubeconfig(cluster.kubeconfig)
    started = PodRunner(api, workdir, namespaces=namespaces, say=lambda _: None).start()
    yield started
    started.stop()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def apply(cluster: ControlPlane, namespace: str, *objects: dict[str, Any]) -> None:
    for obj in objects:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


# A pod process gated by a file of the test (the host's files are visible in the pod):
# "late" listens only once the file exists; "gated" listens at once and answers its
# readiness path /ready with 503 until the file exists (and again once it is removed).
GATED_SERVER = """
import http.server, os, sys, time
host, port, mode, gate = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
while mode == "late" and not os.path.exists(gate):
    time.sleep(0.05)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path != "/ready" or os.path.exists(gate)
        self.send_response(200 if ok else 503)
        self.end_headers()
        self.wfile.write(mode.encode())
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()
"""

# A pod process that accepts every connection and never answers (a hung server).
HANGING_SERVER = """
import socket, sys
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
held = []
while True:
    connection, _ = server.accept()
    held.append(connection)
    print("accepted a connection, not answering", flush=True)
"""


def served(name: str, command: list[str], probe: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A Service and a one-pod Deployment whose container runs ``command`` on port 8000."""
    labels = {"app": name}
    container: dict[str, Any] = {
        "name": "server",
        "image": "python:3.11-slim",
        "command": command,
        "ports": [{"name": "http", "containerPort": 8000}],
    }
    if probe is not None:
        container["readinessProbe"] = probe
    template = {"metadata": {"labels": labels}, "spec": {"containers": [container]}}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 8000}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
        },
    ]


def gated(name: str, mode: str, gate: Path, probe: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A Service and a one-pod Deployment running :data:`GATED_SERVER`."""
    command = ["python3", "-c", GATED_SERVER, "0.0.0.0", "8000", mode, str(gate)]
    return served(name, command, probe)


def hanging(name: str, probe: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A Service and a one-pod Deployment running :data:`HANGING_SERVER`."""
    return served(name, ["python3", "-c", HANGING_SERVER, "0.0.0.0", "8000"], probe)


def pod_ready(cluster: ControlPlane, namespace: str, pod: str) -> bool:
    found = json.loads(cluster.kubectl("get", "pod", "-n", namespace, pod, "-o", "json").stdout)
    conditions = found.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def pods_of(cluster: ControlPlane, namespace: str, app: str) -> list[str]:
    """Names of the pods labelled ``app``, as the API server lists them."""
    raw = cluster.kubectl("get", "pods", "-n", namespace, f"-l=app={app}", "-o", "json").stdout
    return [p["metadata"]["name"] for p in json.loads(raw)["items"]]


def ready_endpoints(cluster: ControlPlane, namespace: str, service: str) -> set[str]:
    """Names of the pods listed ready in the Service's EndpointSlices."""
    raw = cluster.kubectl(
        "get", "endpointslices", "-n", namespace,
        f"-l=kubernetes.io/service-name={service}", "-o", "json",
    ).stdout  # fmt: skip
    return {
        e["targetRef"]["name"]
        for s in json.loads(raw)["items"]
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready") and e.get("targetRef")
    }


def watch_readiness(api: KubeApi, namespace: str) -> list[tuple[str, bool, str | None]]:
    """From now on, every state of the namespace's pods as the API server records it:
    (pod, Ready, the runner's readiness annotation), appended by a background watch."""
    listed = api.request("GET", f"/api/v1/namespaces/{namespace}/pods")
    since = listed["metadata"]["resourceVersion"]
    path = f"/api/v1/namespaces/{namespace}/pods?watch=1&resourceVersion={since}"
    states: list[tuple[str, bool, str | None]] = []

    def follow() -> None:
        url = f"{api.server}{path}&timeoutSeconds=120"
        with urllib.request.urlopen(url, context=api.context, timeout=130) as stream:
            for line in stream:
                pod = json.loads(line)["object"]
                ready = any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in pod.get("status", {}).get("conditions") or []
                )
                annotation = (pod["metadata"].get("annotations") or {}).get(READY_ANNOTATION)
                states.append((pod["metadata"]["name"], ready, annotation))

    threading.Thread(target=follow, daemon=True).start()
    return states
