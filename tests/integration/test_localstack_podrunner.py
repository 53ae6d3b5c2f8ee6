"""The dev-only pod runner against the real API server, controllers and kwok: the pods of
a Deployment become local processes with their ConfigMap mounted at the container path,
a Service name resolves inside the pod and reaches the ready endpoints, and scaling or
deleting pods changes the processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.podplan import ADDRESS_ANNOTATION
from hybridroute_localstack.podrunner import PodRunner
from hybridroute_localstack.probe import free_port
from podrunner_harness import (
    apply,
    gated,
    get,
    new_namespace,
    pod_ready,
    ready_endpoints,
    started_runner,
    watch_readiness,
)

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
    yield from new_namespace(cluster)


@pytest.fixture
def runner(cluster: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[PodRunner]:
    yield from started_runner(cluster, [namespace], tmp_path)


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

    def scraped_pods() -> set[str]:  # the file follows the pods on the runner's next poll
        return {t["labels"]["pod"] for t in json.loads(runner.targets_file.read_text())}

    eventually(
        lambda: scraped_pods() == {p.plan.name for p in runner.running().values()},
        "Prometheus targets follow the pods",
    )


def refused(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return True
    return False


def test_a_pod_is_ready_only_once_its_process_answers_its_readiness_probe(
    cluster: ControlPlane, namespace: str, runner: PodRunner, tmp_path: Path
) -> None:
    late_gate, probe_gate = tmp_path / "late-listens", tmp_path / "gated-ready"
    probe = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1,
             "failureThreshold": 1}  # fmt: skip
    history = watch_readiness(runner.api, namespace)
    apply(cluster, namespace, *gated("late", "late", late_gate, None))
    apply(cluster, namespace, *gated("gated", "gated", probe_gate, probe))
    pods = eventually(lambda: r if len(r := runner.running()) == 2 else None, "two pods run")
    probed, late = sorted(pods.values(), key=lambda p: p.plan.name)  # gated-… < late-…
    late_door = runner.expose(namespace, "late", "http", "127.0.0.1", free_port())
    gated_door = runner.expose(namespace, "gated", "http", "127.0.0.1", free_port())

    # both processes run and have been probed, and failed: "late" does not listen yet,
    # "gated" listens but answers /ready with 503. Neither is Ready, neither is an
    # endpoint of its Service, and the Services refuse.
    eventually(lambda: get(f"{probed.url()}/") == "gated", "gated listening")
    eventually(lambda: late.readiness.failures > 0 and probed.readiness.failures > 0, "probed")
    for pod in (late, probed):
        assert pod.component.running()
        assert not pod_ready(cluster, namespace, pod.plan.name)
    assert ready_endpoints(cluster, namespace, "late") == set()
    assert ready_endpoints(cluster, namespace, "gated") == set()
    assert refused(f"{late_door}/")
    assert refused(f"{gated_door}/")

    # "late" starts listening: Ready, the Service's endpoint, reachable through it
    late_gate.touch()
    eventually(lambda: pod_ready(cluster, namespace, late.plan.name), "late Ready")
    eventually(lambda: ready_endpoints(cluster, namespace, "late") == {late.plan.name}, "in late")
    eventually(lambda: get(f"{late_door}/") == "late", "late through its Service")
    assert not pod_ready(cluster, namespace, probed.plan.name)

    # "gated" passes its readiness probe: Ready; it fails it again: out of the Service
    probe_gate.touch()
    eventually(lambda: get(f"{gated_door}/") == "gated", "gated through its Service")
    assert pod_ready(cluster, namespace, probed.plan.name)
    probe_gate.unlink()
    eventually(lambda: not pod_ready(cluster, namespace, probed.plan.name), "gated unready")
    eventually(lambda: ready_endpoints(cluster, namespace, "gated") == set(), "out of gated")
    eventually(lambda: refused(f"{gated_door}/"), "gated Service refuses again")
    assert probed.component.running()  # unready, not restarted

    # at no moment was a pod Ready before the runner's probe had passed (the watch
    # runs on its own thread: wait until it has seen each pod Ready)
    for pod in (late, probed):
        states = eventually(
            lambda name=pod.plan.name: _states_once_ready(history, name),
            f"the watch saw {pod.plan.name} Ready",
        )
        first_ready = next(note for ready, note in states if ready)
        assert first_ready == "true", states


def _states_once_ready(
    history: list[tuple[str, bool, str | None]], pod: str
) -> list[tuple[bool, str | None]] | None:
    """The pod's states the watch has seen; None until one of them is Ready."""
    states = [(ready, note) for name, ready, note in list(history) if name == pod]
    return states if any(ready for ready, _ in states) else None
