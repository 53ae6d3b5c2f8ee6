"""The dev-only pod runner against the real API server, controllers and kwok: the pods of
a Deployment become local processes with their ConfigMap mounted at the container path,
a Service name resolves inside the pod and reaches the ready endpoints, and scaling or
deleting pods changes the processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.kubeapi import KubeApi
from hybridroute_localstack.podplan import ADDRESS_ANNOTATION
from hybridroute_localstack.podrunner import PodRunner
from hybridroute_localstack.probe import free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="the pod runner needs root and unshare (a mount namespace per pod)",
    ),
]

# A pod serving its mounted ConfigMap over HTTP on 0.0.0.0 (the container's interfaces,
# which the runner turns into the pod's loopback address).
SERVER = ["python3", "-m", "http.server", "--bind", "0.0.0.0", "--directory", "/srv/page", "8000"]


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    container = {
        "name": "web",
        "image": "python:3.11-slim",
        "command": SERVER,
        "ports": [{"name": "http", "containerPort": 8000}],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "volumeMounts": [{"name": "page", "mountPath": "/srv/page", "readOnly": True}],
    }
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
                    "containers": [container],
                    "volumes": [{"name": "page", "configMap": {"name": "page"}}],
                },
            },
        },
    }


@pytest.fixture
def namespace(cluster: ControlPlane) -> Iterator[str]:
    name = f"runner-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def runner(cluster: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[PodRunner]:
    api = KubeApi.from_kubeconfig(cluster.kubeconfig)
    started = PodRunner(api, tmp_path, namespaces=[namespace], say=lambda _: None).start()
    yield started
    started.stop()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def apply(cluster: ControlPlane, namespace: str, *objects: dict[str, Any]) -> None:
    for obj in objects:
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(obj))


def test_pods_run_with_their_configmap_and_follow_scaling_and_deletion(
    cluster: ControlPlane, namespace: str, runner: PodRunner, tmp_path: Path
) -> None:
    page = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "page"},
            "data": {"index.html": "first"}}  # fmt: skip
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 8000}]},
    }
    apply(cluster, namespace, page, service, deployment("web", 1))
    pods = eventually(lambda: r if len(r := runner.running()) == 1 else None, "one pod run")
    (pod,) = pods.values()
    assert eventually(lambda: get(f"http://{pod.address}:8000/") == "first", "the mounted page")

    # the ConfigMap changes: the file in the pod follows, as the kubelet syncs it
    page["data"] = {"index.html": "second"}
    apply(cluster, namespace, page)
    eventually(lambda: get(f"http://{pod.address}:8000/") == "second", "the updated page")

    # the pod's files (token, Secret values in run.sh) are the owner's only
    assert pod.directory.stat().st_mode & 0o777 == 0o700

    # the pod's address is published on the pod
    published = cluster.kubectl(
        "get", "pod", "-n", namespace, pod.plan.name, "-o",
        "jsonpath={.metadata.annotations.local\\.hybridroute\\.dev/address}",
    ).stdout  # fmt: skip
    assert published == pod.address
    assert ADDRESS_ANNOTATION == "local.hybridroute.dev/address"

    # a front door on the Service reaches its ready endpoints
    front = runner.expose(namespace, "web", "http", "127.0.0.1", free_port())
    eventually(lambda: get(f"{front}/") == "second", "the Service through the front door")

    # scaled to 2: two processes; a pod deleted: its process stops, a new one starts
    cluster.kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=2")
    two = eventually(lambda: r if len(r := runner.running()) == 2 else None, "two pods run")
    first_pid = pod.component.pid
    cluster.kubectl("delete", "pod", "-n", namespace, pod.plan.name, "--wait=false")
    eventually(
        lambda: len(runner.running()) == 2 and pod.key not in runner.running(),
        "the deleted pod replaced",
    )
    assert not pod.component.running()
    assert all(p.component.pid != first_pid for p in runner.running().values())
    assert set(two) != set(runner.running())

    # inside a pod, the Service's DNS name resolves to the service proxy
    other = next(iter(runner.running().values()))
    resolved = subprocess.run(
        ["nsenter", f"--mount=/proc/{other.component.pid}/ns/mnt", "getent", "hosts",
         f"web.{namespace}.svc"],
        capture_output=True, text=True, check=True,
    ).stdout.split()[0]  # fmt: skip
    assert resolved.startswith("127.")
    eventually(lambda: get(f"http://{resolved}:8000/") == "second", "the Service by its name")
    targets = json.loads(runner.targets_file.read_text())
    assert {t["labels"]["pod"] for t in targets} == {p.plan.name for p in runner.running().values()}
