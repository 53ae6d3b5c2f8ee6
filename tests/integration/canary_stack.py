"""The whole canary loop on real parts, for tests/integration/test_canary*.py.

The local control plane (etcd, kube-apiserver, controllers, kwok); the dev-only pod
runner of the local stack (model pods run as replay servers, router pods as
``hybridroute-router`` processes from the pod spec the operator rendered, Services as
loopback proxies); the real Prometheus scraping every pod process each second through
``file_sd``; the operator as a process with ``--prometheus-url``; traffic with recorded
eval questions through the router Service.

Students of known quality are replay servers with the bad-student knobs: ``good``
answers as recorded (agrees with the large model on ~79% of questions), ``disagree``
names a wrong option every time (~18%), ``errors`` fails 60% of calls, ``slow`` adds 1.5 s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridroute_localstack import ControlPlane, eventually
from hybridroute_localstack.kubeapi import KubeApi
from hybridroute_localstack.podrunner import PodRunner
from hybridroute_localstack.probe import answers, free_port
from hybridroute_localstack.prometheus import PrometheusServer, stack_scrape_config
from hybridroute_localstack.replaybook import ReplayBook, default_data_dir
from hybridroute_localstack.traffic import Traffic
from hybridroute_policy import parse_policy
from operator_harness import CRD, OperatorProcess, apply, get_json

REPLAY = "local.hybridroute.dev/replay"
STUDENTS = {
    "good": "--role small --model student",
    "disagree": "--role small --model student --disagree",
    "errors": "--role small --model student --error-rate 0.6",
    "slow": "--role small --model student --extra-latency-ms 1500",
}
SHOWN = ("phase", "stable", "candidate", "step", "weights", "failedChecks", "message")
LARGE_APP = "canary-large"
STABLE_APP = "canary-stable"


def model(name: str, labels: dict[str, str], replay: str, **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": {REPLAY: replay}},
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "image": "vllm/vllm-openai:latest",
                            "ports": [{"containerPort": 8000}],
                        }
                    ],
                    **pod,
                },
            },
        },
    }


def student(route: str, version: str, quality: str, **pod: Any) -> dict[str, Any]:
    """``Deployment <route>-student-<version>``, labelled as an MLOps pipeline would."""
    labels = {"app": f"{route}-student", "version": version}
    return model(f"{route}-student-{version}", labels, STUDENTS[quality], **pod)


def route_manifest(name: str, canary: dict[str, Any]) -> dict[str, Any]:
    """Stable v1 listed by hand, newer students discovered by label; every request to
    the small model (threshold 1), shadow answers compared exactly."""
    return {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": name},
        "spec": {
            "large": {"model": "big", "endpoint": {"selector": {"app": LARGE_APP}, "port": 8000}},
            "small": {
                "model": "student",
                "versions": [
                    {
                        "name": "v1",
                        "endpoint": {"selector": {"app": STABLE_APP}, "port": 8000},
                    }
                ],
                "discovery": {"selector": {"app": f"{name}-student"}, "port": 8000},
            },
            "policy": {
                "complexity": {"threshold": 1.0},
                "shadow": {"percent": 0, "comparator": "exact"},
            },
            "router": {"replicas": 1},
            "canary": canary,
        },
    }


@dataclass
class CanaryStack:
    plane: ControlPlane
    namespace: str
    workdir: Path
    runner: PodRunner
    prometheus: PrometheusServer
    operator: OperatorProcess
    book: ReplayBook
    traffic: list[Traffic] = field(default_factory=list)

    def kubectl(self, *args: str, check: bool = True) -> Any:
        return self.plane.kubectl(*args, "-n", self.namespace, check=check)

    def apply(self, *objects: dict[str, Any]) -> None:
        apply(self.plane, self.namespace, *objects)

    def route(self, name: str) -> dict[str, Any]:
        return get_json(self.plane, "hybridroute", name, "-n", self.namespace) or {}

    def canary(self, name: str) -> dict[str, Any]:
        return dict((self.route(name).get("status") or {}).get("canary") or {})

    def wait_canary(self, name: str, what: str, check: Any, timeout: float = 90) -> Any:
        """Poll status.canary until ``check(section)`` is truthy; returns the section (a
        timeout shows the last section seen)."""

        def once() -> dict[str, Any]:
            section = self.canary(name)
            if not (section and check(section)):
                shown = {k: section.get(k) for k in SHOWN}
                raise AssertionError(f"status.canary is {shown}")
            return section

        return eventually(once, f"{name}: {what}", timeout)

    def events(self, name: str) -> list[dict[str, Any]]:
        raw = self.kubectl(
            "get", "events", f"--field-selector=involvedObject.name={name}", "-o", "json"
        )
        items: list[dict[str, Any]] = json.loads(raw.stdout)["items"]
        return sorted(items, key=lambda e: (e.get("firstTimestamp") or "", e["metadata"]["name"]))

    def policy(self, name: str) -> dict[str, Any]:
        """The route's policy as the router reads it, defaults filled in (the ConfigMap
        holds only values that differ from them)."""
        cm = get_json(self.plane, "configmap", f"{name}-policy", "-n", self.namespace) or {}
        text = (cm.get("data") or {}).get("policy.yaml")
        return parse_policy(text).model_dump(mode="json", by_alias=True) if text else {}

    def serve(self, name: str, rate: float = 15.0) -> Traffic:
        """Traffic through the route's router Service once a router pod answers."""
        service = f"{name}-router"

        def router_ready() -> bool:
            pods = [p for p in self.runner.running().values() if p.plan.kind != "replay"]
            return any(
                p.plan.namespace == self.namespace
                and p.plan.name.startswith(service)
                and answers(f"{p.url()}/readyz")
                for p in pods
            )

        eventually(router_ready, f"{name}: a router pod ready", timeout=90)
        url = self.runner.expose(self.namespace, service, "http", "127.0.0.1", free_port())
        eventually(lambda: answers(f"{url}/readyz"), f"{name}: router Service", timeout=30)
        traffic = Traffic(f"{url}/v1", name, self.book, rate=rate).start()
        self.traffic.append(traffic)
        return traffic

    def prom(self, query: str) -> float:
        result = self.prometheus.query(query)
        return sum(float(s["value"][1]) for s in result)


def canary_stack(plane: ControlPlane, namespace: str, workdir: Path) -> Iterator[CanaryStack]:
    plane.kubectl("create", "namespace", namespace)
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    eventually(  # kubectl wait fails outright while the CRD has no conditions yet
        lambda: (
            "True"
            in plane.kubectl(
                "get",
                "crd/hybridroutes.inferensys.io",
                "-o",
                'jsonpath={.status.conditions[?(@.type=="Established")].status}',
                check=False,
            ).stdout
        ),
        "HybridRoute CRD established",
        timeout=60,
    )
    runner = PodRunner(
        KubeApi.from_kubeconfig(plane.kubeconfig),
        workdir / "pods",
        namespaces=[namespace],
        say=lambda message: None,
    )
    runner.targets_file.write_text("[]")
    config = stack_scrape_config({}, runner.targets_file, interval="1s")
    prometheus = PrometheusServer(workdir / "prometheus", [], config=config).start()
    runner.start()
    operator = OperatorProcess(
        plane, namespace, workdir, "--prometheus-url", prometheus.url, "--log-format", "text"
    ).start()
    stack = CanaryStack(
        plane,
        namespace,
        workdir,
        runner,
        prometheus,
        operator,
        ReplayBook.from_paths([default_data_dir()]),
    )
    stack.apply(
        model("canary-large", {"app": LARGE_APP}, "--role large --model big --rationale-words 0"),
        model("canary-stable", {"app": STABLE_APP}, STUDENTS["good"]),
    )
    try:
        yield stack
    finally:
        for traffic in stack.traffic:
            traffic.stop()
        operator.stop()
        runner.stop()
        prometheus.stop()
        plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
