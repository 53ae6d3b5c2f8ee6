"""The dev-only pod runner when something misbehaves, against the real API server,
controllers and kwok: a pod process that hangs its readiness probe delays no other pod,
a probe gives up after its timeoutSeconds in total, and a runner killed with SIGKILL
leaves nothing that keeps the next runner (or pods without one) from working."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.kubeapi import KubeApi
from hybridroute_localstack.podplan import ADDRESS_ANNOTATION
from hybridroute_localstack.podrunner import PodRunner, RunningPod
from hybridroute_localstack.process import start
from hybridroute_localstack.readiness import READY_ANNOTATION, STAGE_PATH, Probe, check
from podrunner_harness import (
    apply,
    gated,
    get,
    hanging,
    new_namespace,
    pod_ready,
    pods_of,
    started_runner,
    watch_readiness,
)

pytestmark = pytest.mark.integration
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="the pod runner needs root and unshare (a mount namespace per pod)",
)
PROBE = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1, "failureThreshold": 1}


@pytest.fixture
def namespace(cluster: ControlPlane) -> Iterator[str]:
    yield from new_namespace(cluster)


@pytest.fixture
def other_namespace(cluster: ControlPlane) -> Iterator[str]:
    yield from new_namespace(cluster)


@pytest.fixture
def runner(cluster: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[PodRunner]:
    yield from started_runner(cluster, [namespace], tmp_path)


def running_pod(runner: PodRunner, app: str) -> RunningPod | None:
    return next((p for p in runner.running().values() if p.plan.name.startswith(app)), None)


def annotation(api: KubeApi, namespace: str, pod: str, key: str) -> str | None:
    found = api.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}")
    value = (found["metadata"].get("annotations") or {}).get(key)
    return None if value is None else str(value)


@needs_root
def test_a_pod_that_hangs_its_readiness_probe_delays_no_other_pod(
    cluster: ControlPlane, namespace: str, runner: PodRunner, tmp_path: Path
) -> None:
    # "a-hangs" accepts the probe's connection and never answers; its probe waits up to
    # 60 s (timeoutSeconds). Its name sorts first, so a runner probing pod after pod on
    # one thread would wait on it before anything else.
    apply(cluster, namespace, *hanging("a-hangs", {**PROBE, "timeoutSeconds": 60}))
    hung = eventually(lambda: running_pod(runner, "a-hangs"), "the hanging pod run")
    log = hung.directory / "pod.log"
    eventually(lambda: "not answering" in log.read_text(), "the hanging pod probed")

    # while that probe waits, a healthy pod comes: it runs and is Ready within seconds
    gate = tmp_path / "ready"
    gate.touch()
    apply(cluster, namespace, *gated("b-answers", "gated", gate, PROBE))
    healthy = eventually(lambda: pods_of(cluster, namespace, "b-answers"), "the healthy pod")[0]
    eventually(lambda: pod_ready(cluster, namespace, healthy), "the healthy pod Ready", timeout=20)

    # the hanging one is still not Ready, never reported ready, and its process runs
    assert not pod_ready(cluster, namespace, hung.plan.name)
    assert annotation(runner.api, namespace, hung.plan.name, READY_ANNOTATION) != "true"
    assert hung.component.running()
    assert runner.errors == []


@contextlib.contextmanager
def dripping_server() -> Iterator[int]:
    """A loopback server that answers every request with ``200 OK``, one byte each
    0.1 s (the status line takes 1.7 s); its port."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                connection, _ = server.accept()
                with connection:
                    connection.recv(4096)
                    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                        if stop.wait(0.1):
                            break
                        connection.sendall(bytes([byte]))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()


def test_a_probe_gives_up_after_its_timeout_in_total() -> None:
    with dripping_server() as port:
        probe = Probe("http", port, path="/ready", timeout=1.0)
        began = time.monotonic()
        assert check(probe, "127.0.0.1") is False  # a 200 that takes 1.7 s: a failure
        assert time.monotonic() - began < 2.0
        patient = Probe("http", port, path="/ready", timeout=10.0)
        assert check(patient, "127.0.0.1") is True  # the same answer within the timeout


# A pod runner in a process of its own, so that the test can SIGKILL it.
RUNNER_PROCESS = """
import sys, threading
from pathlib import Path
from hybridroute_localstack.kubeapi import KubeApi
from hybridroute_localstack.podrunner import PodRunner
api = KubeApi.from_kubeconfig(Path(sys.argv[1]))
PodRunner(api, Path(sys.argv[2]), namespaces=sys.argv[3:]).start()
threading.Event().wait()
"""


def runner_stages(api: KubeApi, *namespaces: str) -> list[dict[str, Any]]:
    """The pod runners' Stages that select a pod in any of ``namespaces``."""
    selector = "labelSelector=app.kubernetes.io/managed-by%3Dhybridroute-pod-runner"
    found = api.items(f"{STAGE_PATH}?{selector}")
    return [
        s
        for s in found
        for e in s["spec"]["selector"]["matchExpressions"]
        if e["key"] == ".metadata.namespace" and set(e["values"]) & set(namespaces)
    ]


@needs_root
def test_a_runner_killed_with_sigkill_leaves_nothing_in_the_way_of_the_next(
    cluster: ControlPlane, namespace: str, other_namespace: str, tmp_path: Path
) -> None:
    api = KubeApi.from_kubeconfig(cluster.kubeconfig)
    gate = tmp_path / "ready"
    gate.touch()
    command = [sys.executable, "-c", RUNNER_PROCESS, str(cluster.kubeconfig), str(tmp_path / "a")]
    killed = start("killed-runner", [*command, namespace, other_namespace], tmp_path / "a.log")
    try:
        eventually(lambda: runner_stages(api, namespace), "the first runner's Stage")
        apply(cluster, namespace, *gated("web", "gated", gate, PROBE))
        pod = eventually(lambda: pods_of(cluster, namespace, "web"), "the pod")[0]
        eventually(
            lambda: (
                annotation(api, namespace, pod, READY_ANNOTATION) == "true"
                and pod_ready(cluster, namespace, pod)
            ),
            "Ready under the first runner",
        )
        old_address = annotation(api, namespace, pod, ADDRESS_ANNOTATION)
        assert get(f"http://{old_address}:8000/") == "gated"

        # SIGKILL: no clean-up runs; the pod's process dies with its runner
        os.kill(killed.pid, signal.SIGKILL)
    finally:
        killed.stop(grace=2)  # reaps it (or stops it when the test failed before)
    eventually(lambda: _refused(f"http://{old_address}:8000/"), "the pod's process gone")
    gate.unlink()  # from now on the pod's process does not pass its probe

    # the next runner, for one of the killed runner's namespaces
    history = watch_readiness(api, namespace)
    said: list[str] = []
    second = PodRunner(api, tmp_path / "b", namespaces=[namespace], say=said.append).start()
    try:
        eventually(lambda: running_pod(second, "web"), "the pod run by the next runner")
        eventually(lambda: not pod_ready(cluster, namespace, pod), "unready: it does not answer")
        gate.touch()
        eventually(lambda: pod_ready(cluster, namespace, pod), "Ready once it answers")
        new_address = annotation(api, namespace, pod, ADDRESS_ANNOTATION)
        assert get(f"http://{new_address}:8000/") == "gated"

        def states() -> list[tuple[bool, str | None]]:  # as the watch saw them so far
            return [(ready, note) for name, ready, note in history if name == pod]

        seen = eventually(lambda: s if (True, "true") in (s := states()) else None, "watched")
        assert (False, "false") in seen[: seen.index((True, "true"))], seen

        # one Stage for these namespaces, the next runner's; the killed runner's is gone,
        # so a pod in its other namespace, where no runner runs now, is Ready at once
        names = [s["metadata"]["name"] for s in runner_stages(api, namespace, other_namespace)]
        assert names == [f"hybridroute-pod-runner-{namespace}"]
        apply(cluster, other_namespace, *gated("elsewhere", "gated", gate, PROBE))
        elsewhere = eventually(lambda: pods_of(cluster, other_namespace, "elsewhere"), "a pod")
        eventually(lambda: pod_ready(cluster, other_namespace, elsewhere[0]), "Ready at once")
        assert second.errors == []
        assert any("removed, its pod runner is gone" in m for m in said), said
        assert not [m for m in said if "no kwok Stage" in m], said
    finally:
        second.stop()
    assert runner_stages(api, namespace, other_namespace) == []


def _refused(url: str) -> bool:
    try:
        get(url)
    except OSError:
        return True
    return False
