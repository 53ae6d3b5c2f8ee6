"""``hybridroute-local run``: the live HybridRoute on one machine (see docs/local-stack.md).

In order, with a progress line each: the local control plane (etcd, kube-apiserver,
controllers, scheduler, kwok); the real Prometheus scraping the operator and, through
``file_sd``, every pod process; the CRDs and the operator; the example's model
Deployments, whose pods the dev-only pod runner runs as replay servers; the example's
HybridRoute, whose router Deployment's pods it runs as ``hybridroute-router``
processes from the pod spec the operator rendered. Then it prints the one URL in front
of the router Service (``OPENAI_BASE_URL``), the Prometheus URL and the KUBECONFIG
line, optionally replays eval questions through the route with a live summary, and on
``--duration``, Ctrl-C, SIGTERM or any error tears everything down.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import yaml

from hybridroute_localstack import state
from hybridroute_localstack.build import MissingBinaryError, build_all
from hybridroute_localstack.controlplane import ControlPlane, KubectlError
from hybridroute_localstack.eventually import NotYet, eventually
from hybridroute_localstack.kubeapi import KubeApi, KubeApiError
from hybridroute_localstack.liveview import LiveView, RouteState
from hybridroute_localstack.podrunner import PodRunner, RunnerUnavailable, RunningPod
from hybridroute_localstack.probe import answers, free_port
from hybridroute_localstack.process import Component, ComponentFailed, start, wait_until
from hybridroute_localstack.prometheus import (
    PrometheusMissing,
    PrometheusServer,
    stack_scrape_config,
)
from hybridroute_localstack.replaybook import ReplayBook, default_data_dir
from hybridroute_localstack.summary import Price, summarize
from hybridroute_localstack.traffic import Traffic

CHECKOUT = Path(__file__).resolve().parents[2]
ROUTES = "/apis/inferensys.io/v1alpha1/namespaces/{ns}/hybridroutes/{name}"


@dataclass
class DemoOptions:
    state_dir: Path
    crds: Path = CHECKOUT / "crds"
    example: Path = CHECKOUT / "examples" / "02-hybridroute"
    namespace: str = "default"
    traffic: float = 0.0
    duration: float | None = None
    summary_json: Path | None = None
    refresh: float = 3.0
    timeout: float = 180.0
    fancy: bool | None = None
    """Rich live table (default: when stdout is a terminal)."""


@dataclass
class Manifests:
    models: list[dict[str, Any]]
    route: dict[str, Any]

    @classmethod
    def load(cls, directory: Path) -> Manifests:
        objects: list[dict[str, Any]] = []
        for path in sorted(directory.glob("*.y*ml")):
            objects += [o for o in yaml.safe_load_all(path.read_text()) if o and o.get("kind")]
        routes = [o for o in objects if o["kind"] == "HybridRoute"]
        if len(routes) != 1:
            raise ValueError(f"{directory}: expected one HybridRoute, found {len(routes)}")
        return cls([o for o in objects if o["kind"] != "HybridRoute"], routes[0])

    @property
    def route_name(self) -> str:
        return str(self.route["metadata"]["name"])

    @property
    def public_model(self) -> str:
        policy = self.route["spec"].get("policy") or {}
        return str(policy.get("publicModel") or self.route_name)


@dataclass
class Demo:
    options: DemoOptions
    say: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    plane: ControlPlane | None = None
    prometheus: PrometheusServer | None = None
    operator: Component | None = None
    runner: PodRunner | None = None
    traffic: Traffic | None = None
    base_url: str = ""
    first_answer_seconds: float | None = None
    cpu: dict[int, float] = field(default_factory=dict)

    def step(self, message: str) -> None:
        self.say(f"[{time.monotonic() - self.started:6.1f}s] ==> {message}")

    @property
    def work(self) -> Path:
        return self.options.state_dir / "run"

    # -- bring-up -----------------------------------------------------------------------

    def up(self, manifests: Manifests) -> None:
        self._control_plane()
        api = KubeApi.from_kubeconfig(self._plane.kubeconfig)
        self.runner = PodRunner(
            api, self.work, namespaces=[self.options.namespace], say=self._pod_event
        )
        self.runner.targets_file.write_text("[]")
        operator_port = free_port()
        self._prometheus(operator_port)
        self._operator(operator_port)
        self.runner.start()
        self._models(manifests)
        self._routers(api, manifests)

    @property
    def _plane(self) -> ControlPlane:
        assert self.plane is not None
        return self.plane

    def _pod_event(self, message: str) -> None:
        self.say(f"[{time.monotonic() - self.started:6.1f}s]     {message}")

    def _control_plane(self) -> None:
        directory = self.options.state_dir
        previous = state.load(directory)
        if previous is not None:
            stopped = state.stop_recorded(previous)
            if stopped:
                self.step("stopped a previous local stack: " + ", ".join(stopped))
        self.step("control plane: etcd, kube-apiserver, controllers, scheduler, kwok node")
        build_all(say=lambda m: None if "cached" in m else self.say(m))
        self.plane = ControlPlane(directory, start_timeout=self.options.timeout)
        self.plane.start()
        self.plane.start_workloads()
        state.save(state.record(self.plane), directory)
        self.step(f"control plane ready at {self.plane.server}")

    def _prometheus(self, operator_port: int) -> None:
        assert self.runner is not None
        config = stack_scrape_config(
            {"hybridroute-operator": [f"127.0.0.1:{operator_port}"]}, self.runner.targets_file
        )
        self.prometheus = PrometheusServer(self.work / "prometheus", [], config=config).start()
        self.step(f"Prometheus ready at {self.prometheus.url} (operator + every pod process)")

    def _operator(self, metrics_port: int) -> None:
        plane = self._plane
        plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(self.options.crds))
        # kubectl wait fails at once ("<nil> is of the type <nil>") while a new CRD has no
        # status conditions yet: ask again until it answers that they are established
        wait = ("wait", "--for=condition=Established", "--timeout=10s", "-f")
        eventually(
            lambda: plane.kubectl(*wait, str(self.options.crds), check=False).returncode == 0,
            "the CRDs established",
            timeout=60,
        )
        health = free_port()
        assert self.prometheus is not None
        command = [
            str(Path(sys.executable).with_name("hybridroute-operator")),
            f"--kubeconfig={plane.kubeconfig}",
            "--standalone",
            f"--namespace={self.options.namespace}",
            f"--metrics-port={metrics_port}",
            "--metrics-host=127.0.0.1",
            f"--health-port={health}",
            f"--prometheus-url={self.prometheus.url}",
            "--log-format=text",
        ]
        self.operator = start("hybridroute-operator", command, self.work / "operator.log")
        wait_until(
            self.operator,
            lambda: answers(f"http://127.0.0.1:{metrics_port}/metrics"),
            "serving /metrics",
            timeout=self.options.timeout,
        )
        self.step(f"operator running (metrics 127.0.0.1:{metrics_port}, log {self.operator.log})")

    def _apply(self, obj: dict[str, Any]) -> None:
        self._plane.kubectl("apply", "-n", self.options.namespace, "-f", "-", input=json.dumps(obj))

    def _pods(self, kind: str) -> list[RunningPod]:
        assert self.runner is not None
        return [p for p in self.runner.running().values() if p.plan.kind == kind]

    def _models(self, manifests: Manifests) -> None:
        self.step("model servers: the example's model Deployments, pods run as replay servers")
        for obj in manifests.models:
            self._apply(obj)
        wanted = sum(
            int(o["spec"].get("replicas", 1)) for o in manifests.models if o["kind"] == "Deployment"
        )

        def ready() -> list[RunningPod] | None:
            pods = self._pods("replay")
            healthy = [
                p for p in pods if answers(f"http://{p.address}:{p.plan.metrics_port()}/health")
            ]
            return healthy if len(healthy) >= wanted else None

        eventually(ready, f"{wanted} model server(s) answering", timeout=self.options.timeout)
        self.step(f"{wanted} model server(s) answering")

    def _routers(self, api: KubeApi, manifests: Manifests) -> None:
        assert self.runner is not None
        self.step(f"HybridRoute {manifests.route_name}: the router Deployment's pods as processes")
        self._apply(manifests.route)
        name = f"{manifests.route_name}-router"
        deployment = f"/apis/apps/v1/namespaces/{self.options.namespace}/deployments/{name}"

        def ready() -> list[RunningPod] | None:
            found = api.get(deployment)
            if found is None:
                return None
            wanted = int(found["spec"].get("replicas") or 1)
            pods = self._pods("hybridroute-router")
            healthy = [p for p in pods if answers(f"{p.url()}/readyz")]
            return healthy if len(healthy) >= wanted else None

        routers = eventually(ready, "the router replicas ready", timeout=self.options.timeout)
        port = free_port()
        url = self.runner.expose(self.options.namespace, name, "http", "127.0.0.1", port)
        self.base_url = f"{url}/v1"
        eventually(
            lambda: answers(f"{url}/readyz"),
            "the router Service answering on loopback",
            timeout=self.options.timeout,
        )
        self.step(f"{len(routers)} router process(es) ready behind {url}")
        eventually(
            lambda: self._ask_one(manifests.public_model),
            "a first answer through the route",
            timeout=self.options.timeout,
        )
        self.first_answer_seconds = time.monotonic() - self.started
        self.step(f"first query answered through the route ({self.first_answer_seconds:.1f}s)")

    def _ask_one(self, model: str) -> bool:
        body = {"model": model, "messages": [{"role": "user", "content": "What is 2 + 2?"}]}
        response = httpx.post(f"{self.base_url}/chat/completions", json=body, timeout=10)
        return response.status_code == 200

    # -- serving ------------------------------------------------------------------------

    def print_endpoints(self, manifests: Manifests) -> None:
        assert self.prometheus is not None
        self.say("")
        self.say(f"OPENAI_BASE_URL={self.base_url}")
        self.say(f"OPENAI_MODEL={manifests.public_model}   (any API key)")
        self.say(f"PROMETHEUS_URL={self.prometheus.url}")
        self.say(f"export KUBECONFIG={self._plane.kubeconfig}")
        self.say("")

    def serve(self, manifests: Manifests, api: KubeApi) -> dict[str, Any]:
        """Traffic and the live view until ``--duration`` (or forever); the final numbers."""
        options = self.options
        route_path = ROUTES.format(ns=options.namespace, name=manifests.route_name)
        spec = manifests.route["spec"]
        large, small = Price.from_spec(spec["large"]), Price.from_spec(spec["small"])
        if options.traffic > 0:
            book = ReplayBook.from_paths([default_data_dir()])
            self.traffic = Traffic(self.base_url, manifests.public_model, book, options.traffic)
            self.step(f"traffic: {options.traffic:g} requests/s of recorded eval questions")
            self.cpu = self._router_cpu()
            self.traffic.start()
        began = time.monotonic()
        view = LiveView(fancy=options.fancy) if self.traffic is not None else None
        route = RouteState()
        try:
            while options.duration is None or time.monotonic() - began < options.duration:
                self._check_alive()
                wait = options.refresh
                if options.duration is not None:
                    wait = min(wait, max(0.0, options.duration - (time.monotonic() - began)))
                time.sleep(wait)
                with contextlib.suppress(KubeApiError):
                    route = RouteState.from_route(api.get(route_path))
                if view is not None and self.traffic is not None:
                    now = time.monotonic()
                    numbers = summarize(self.traffic.results(), large, small, now=now)
                    view.update(now - began, numbers, route)
        finally:
            if view is not None:
                view.close()
        return self._final(began, large, small, route)

    def _final(self, began: float, large: Price, small: Price, route: RouteState) -> dict[str, Any]:
        elapsed = time.monotonic() - began
        result: dict[str, Any] = {"duration_seconds": elapsed, "route": route.as_dict()}
        if self.traffic is not None:
            cpu = self._router_cpu()
            self.traffic.stop()
            used = sum(max(0.0, cpu.get(pid, 0.0) - self.cpu.get(pid, 0.0)) for pid in cpu)
            summary = summarize(self.traffic.results(), large, small)
            first = self.traffic.first_answer
            result.update(summary.as_dict())
            result["rate"] = self.options.traffic
            result["skipped"] = self.traffic.skipped
            result["router_cpu_cores"] = used / elapsed if elapsed else 0.0
            result["router_processes"] = len(cpu)
            result["first_traffic_answer_seconds"] = None if first is None else first - self.started
        result["ready_seconds"] = began - self.started
        result["first_answer_seconds"] = self.first_answer_seconds
        return result

    def _router_cpu(self) -> dict[int, float]:
        """CPU seconds used so far by each router process (``/proc/PID/stat``)."""
        ticks = os.sysconf("SC_CLK_TCK")
        used: dict[int, float] = {}
        for pod in self._pods("hybridroute-router"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (
                    Path(f"/proc/{pod.component.pid}/stat").read_text().rsplit(")", 1)[1].split()
                )
                used[pod.component.pid] = (int(fields[11]) + int(fields[12])) / ticks
        return used

    def _check_alive(self) -> None:
        for component in [*(self._plane.components if self.plane else []), self.operator]:
            if component is not None and not component.running():
                raise component.failure("exited while the stack was running")

    # -- teardown -----------------------------------------------------------------------

    def teardown(self) -> None:
        stopped: list[str] = []
        steps: list[tuple[str, Callable[[], None] | None]] = [
            ("traffic", self.traffic.stop if self.traffic else None),
            ("pod processes", self.runner.stop if self.runner else None),
            ("operator", self.operator.stop if self.operator else None),
            ("prometheus", self.prometheus.stop if self.prometheus else None),
            ("control plane", self.plane.stop if self.plane else None),
        ]
        for name, stop in steps:
            if stop is None:
                continue
            try:
                stop()
                stopped.append(name)
            except Exception as exc:  # teardown goes on whatever one part does
                self.say(f"stopping {name} failed: {exc}")
        (self.options.state_dir / state.STATE_FILE).unlink(missing_ok=True)
        self.step("stopped: " + (", ".join(stopped) or "nothing was running"))


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(options: DemoOptions, say: Callable[[str], None]) -> int:
    """The whole demo; 0 on a clean end (``--duration``), 130 on Ctrl-C/SIGTERM."""
    manifests = Manifests.load(options.example)
    demo = Demo(options, say)
    code = 0
    with _sigterm_as_interrupt():
        try:
            demo.up(manifests)
            demo.print_endpoints(manifests)
            api = KubeApi.from_kubeconfig(demo._plane.kubeconfig)
            result = demo.serve(manifests, api)
            if options.summary_json is not None:
                options.summary_json.write_text(json.dumps(result, indent=2) + "\n")
                demo.step(f"summary written to {options.summary_json}")
        except KeyboardInterrupt:
            code = 130
        except (
            ComponentFailed,
            KubeApiError,
            KubectlError,
            NotYet,
            PrometheusMissing,
            RunnerUnavailable,
            MissingBinaryError,
            ValueError,
        ) as exc:
            say(f"hybridroute-local run: {exc}")
            code = 1
        finally:
            demo.teardown()
    return code
