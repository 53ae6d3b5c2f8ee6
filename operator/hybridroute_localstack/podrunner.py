"""DEV-ONLY, never part of the product: the local pod runner.

The kwok node keeps pods "Running" without running anything. ``PodRunner`` plays the
kubelet for the pods it can run (see ``podplan.py`` for exactly what runs and how the
container's paths, address and ``/etc/hosts`` are mapped): it watches the pods on the
API server (a poll every ``interval`` seconds), starts one local process per pod,
stops it when the pod goes away (a pod deleted, a Deployment scaled down), restarts
it when it exits, and keeps its ConfigMap files current. As the kubelet's readiness
probe, it reports a pod Ready only once its process answers (``readiness.py``: a kwok
Stage keeps the runner's pods unready until then, ``runnerstage.py``; each pod is
probed on a thread of its own, ``prober.py``, and the poll only reads the outcome).
It also plays kube-proxy
(``svcproxy.py``): each Service with a selector gets a loopback address whose ports
forward to the processes behind the Service's ready EndpointSlice endpoints.
The address each pod runs on is published on the pod as the annotation
``local.hybridroute.dev/address``, and ``file_sd`` targets for Prometheus list every
process's ``/metrics``.

    runner = PodRunner(api, workdir).start()      # a background thread
    runner.expose("default", "support-router", "http", "127.0.0.1", 18080)
    runner.running()                              # {"default/pod": RunningPod, ...}
    runner.stop()                                 # every process, listener, mount point

Needs root (``unshare --mount``), as the kubelet does.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridroute_localstack.kubeapi import KubeApi, KubeApiError
from hybridroute_localstack.podplan import (
    ADDRESS_ANNOTATION,
    Cluster,
    NotRunnable,
    PodPlan,
    hosts_file,
    launch_script,
    plan_pod,
    service_names,
)
from hybridroute_localstack.prober import Prober
from hybridroute_localstack.process import Component, start
from hybridroute_localstack.readiness import READY_ANNOTATION, ProbeState, probe_of
from hybridroute_localstack.runnerstage import RunnerStage
from hybridroute_localstack.svcproxy import ServiceProxies

JsonObject = dict[str, Any]
RESTART_BACKOFF = 2.0
MOUNT_POINT_MARK = ".hybridroute-local-mount-point"
"""In a directory the pod runner created on the host as a mount point (it is removed
when no process mounts anything there any more)."""


class RunnerUnavailable(RuntimeError):
    """The runner cannot work here (not root, no ``unshare``)."""


@dataclass
class RunningPod:
    plan: PodPlan
    address: str
    directory: Path
    component: Component
    started: float
    restarts: int = 0
    files: dict[str, str] = field(default_factory=dict)
    """Volume file path -> sha256 of what was written last."""
    prober: Prober | None = None
    """Runs the readiness probe on its own thread; None when the probe's spec names no
    port of the container (the pod stays unready)."""

    @property
    def key(self) -> str:
        return self.plan.key

    @property
    def readiness(self) -> ProbeState:
        """The latest outcome of the readiness probe (not ready without a prober)."""
        return self.prober.state if self.prober is not None else ProbeState()

    def url(self, port_name: str = "http") -> str:
        return f"http://{self.address}:{self.plan.ports.get(port_name, 0)}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_in_place(path: Path, text: str) -> None:
    """Rewrite keeping the inode: a file bind-mounted elsewhere shows the new text."""
    with path.open("r+" if path.exists() else "w") as handle:
        handle.seek(0)
        handle.write(text)
        handle.truncate()


class PodRunner:
    """See the module docstring. ``namespaces`` limits what is run (default: all)."""

    def __init__(
        self,
        api: KubeApi,
        workdir: Path,
        *,
        namespaces: list[str] | None = None,
        say: Callable[[str], None] = print,
        interval: float = 0.5,
        die_with_parent: bool = True,
    ) -> None:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            raise RunnerUnavailable(
                "the local pod runner needs root and unshare(1) (util-linux) for a private "
                "mount namespace per pod"
            )
        self.api = api
        self.workdir = workdir
        self.namespaces = namespaces
        self.say = say
        self.interval = interval
        self.die_with_parent = die_with_parent
        self.proxies = ServiceProxies()
        self.targets_file = workdir / "prometheus-targets.json"
        self._subnet = random.randint(64, 250)  # noqa: S311 - an address plan, not crypto
        self._pods: dict[str, RunningPod] = {}
        self._failed: dict[str, str] = {}
        self._free_hosts = list(range(2, 250))
        self._service_ips: dict[str, str] = {}
        self._mount_points: list[Path] = []
        self._names: dict[str, dict[str, str]] = {}
        self._exposed: dict[str, tuple[str, str, str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stage = RunnerStage(api, namespaces, say)
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        workdir.mkdir(parents=True, exist_ok=True)

    # -- public -----------------------------------------------------------------------

    def start(self) -> PodRunner:
        """Register the runner's kwok Stage (its pods start unready; the Stages of
        runners that are gone are adopted or removed first), then poll."""
        self._stage.register()
        self._thread = threading.Thread(target=self._loop, name="pod-runner", daemon=True)
        self._thread.start()
        return self

    def running(self) -> dict[str, RunningPod]:
        with self._lock:
            return dict(self._pods)

    def expose(self, namespace: str, service: str, port_name: str, host: str, port: int) -> str:
        """Also serve ``service``'s ``port_name`` on ``host:port`` (e.g. the router Service
        on 127.0.0.1 for clients outside); its URL."""
        key = f"expose:{namespace}/{service}:{port_name}"
        self.proxies.listen(key, host, port)
        with self._lock:
            self._exposed[key] = (namespace, service, port_name)
        return f"http://{host}:{port}"

    def sync_once(self) -> None:
        """One pass: pods, then Services and their backends, then hosts files."""
        pods = self._list("pods")
        self._sync_pods(pods)
        self._sync_services()
        self._write_targets()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            pods = list(self._pods.values())
            self._pods.clear()
        for pod in pods:
            if pod.prober is not None:
                pod.prober.stop()
            pod.component.stop(grace=5)
        self.proxies.stop()
        self._stage.remove()
        for path in self._mount_points:
            _remove_mount_point(path)

    # -- the loop ---------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except (KubeApiError, OSError) as exc:
                self.errors.append(str(exc))
            self._stop.wait(self.interval)

    def _list(self, resource: str, group: str = "/api/v1") -> list[JsonObject]:
        if self.namespaces is None:
            return self.api.items(f"{group}/{resource}")
        items: list[JsonObject] = []
        for namespace in self.namespaces:
            items += self.api.items(f"{group}/namespaces/{namespace}/{resource}")
        return items

    def _sync_pods(self, pods: list[JsonObject]) -> None:
        wanted = {}
        for pod in pods:
            meta = pod["metadata"]
            phase = (pod.get("status") or {}).get("phase")
            if meta.get("deletionTimestamp") or phase != "Running":
                continue
            wanted[f"{meta['namespace']}/{meta['name']}"] = pod
        for key, running in self.running().items():
            if key not in wanted or wanted[key]["metadata"]["uid"] != running.plan.uid:
                self._stop_pod(running, "pod deleted")
        cluster = self._cluster(wanted.values())
        for key, pod in wanted.items():
            running_pod = self.running().get(key)
            if running_pod is None:
                if key not in self._failed:
                    self._start_pod(pod, cluster)
                else:  # not run here: Ready as kwok alone would report it
                    self._publish(pod, ready=True)
            elif not running_pod.component.running():
                if running_pod.prober is not None:  # as the kubelet: not running, not ready
                    running_pod.prober.reset(time.monotonic())
                self._publish(pod, ready=False)
                self._restart(running_pod)
            else:
                self._refresh_files(running_pod, pod, cluster)
                if running_pod.prober is not None:  # the prober's latest outcome
                    self._publish(pod, ready=running_pod.prober.ready)

    def _cluster(self, pods: Any) -> Cluster:
        namespaces = sorted({p["metadata"]["namespace"] for p in pods})
        config_maps: dict[str, JsonObject] = {}
        secrets: dict[str, JsonObject] = {}
        for namespace in namespaces:
            for cm in self.api.items(f"/api/v1/namespaces/{namespace}/configmaps"):
                binary = {k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()}
                config_maps[f"{namespace}/{cm['metadata']['name']}"] = {
                    **(cm.get("data") or {}),
                    **binary,
                }
            for secret in self.api.items(f"/api/v1/namespaces/{namespace}/secrets"):
                key = f"{namespace}/{secret['metadata']['name']}"
                secrets[key] = secret.get("data") or {}
        host, port = self.api.host_port
        ca = Path(self.api.ca_file).read_bytes()
        bin_dir = str(Path(sys.executable).parent)
        return Cluster(host, port, ca, config_maps, secrets, bin_dir)

    # -- pods -------------------------------------------------------------------------

    def _address(self) -> str:
        if not self._free_hosts:
            raise NotRunnable("no loopback address left for another pod")
        return f"127.{self._subnet}.1.{self._free_hosts.pop(0)}"

    def _start_pod(self, pod: JsonObject, cluster: Cluster) -> None:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        address = self._address()
        try:
            account = pod["spec"].get("serviceAccountName") or "default"
            token = self.api.service_account_token(
                meta["namespace"], account, meta["name"], meta["uid"]
            )
            plan = plan_pod(pod, address, cluster, token)
        except (NotRunnable, KubeApiError, KeyError) as exc:
            self._free_hosts.append(int(address.rsplit(".", 1)[1]))
            self._failed[key] = str(exc)
            self.say(f"pod {key}: not run locally ({exc})")
            return
        directory = self.workdir / "pods" / f"{plan.namespace}_{plan.name}"
        shutil.rmtree(directory, ignore_errors=True)
        # the pod's files hold its token and Secret values (run.sh has its env): owner only
        directory.mkdir(mode=0o700, parents=True)
        running = self._launch(plan, address, directory)
        try:
            probe = probe_of(pod["spec"]["containers"][0], plan.ports)
            running.prober = Prober(probe, address, quick=self.interval, name=key)
            running.prober.start(running.started)
        except ValueError as exc:
            self.say(f"pod {key}: readiness probe not run, the pod stays unready ({exc})")
        with self._lock:
            self._pods[key] = running
        annotations = {ADDRESS_ANNOTATION: address}
        if _pod_ready(pod) or (pod["metadata"].get("annotations") or {}).get(READY_ANNOTATION):
            # left Ready by a runner that is gone: unready until this process answers
            annotations[READY_ANNOTATION] = "false"
        try:
            patch = {"metadata": {"annotations": annotations}}
            self.api.merge_patch(f"/api/v1/namespaces/{plan.namespace}/pods/{plan.name}", patch)
        except KubeApiError as exc:
            self.errors.append(f"annotate {key}: {exc}")
        ports = ", ".join(f"{n} {address}:{p}" for n, p in plan.ports.items())
        self.say(f"pod {key} ({plan.kind}) runs as pid {running.component.pid}: {ports}")

    def _publish(self, pod: JsonObject, *, ready: bool) -> None:
        """Set the pod's :data:`READY_ANNOTATION` when it differs (a pod that is not
        Ready and was never probed needs no ``"false"``)."""
        meta = pod["metadata"]
        current = (meta.get("annotations") or {}).get(READY_ANNOTATION)
        wanted = "true" if ready else "false"
        if current == wanted or (current is None and not ready and not _pod_ready(pod)):
            return
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        try:
            self.api.merge_patch(path, {"metadata": {"annotations": {READY_ANNOTATION: wanted}}})
        except KubeApiError as exc:
            self.errors.append(f"readiness of {meta['namespace']}/{meta['name']}: {exc}")

    def _launch(self, plan: PodPlan, address: str, directory: Path) -> RunningPod:
        volume_dirs: dict[str, str] = {}
        files: dict[str, str] = {}
        for volume in plan.volumes:
            target = directory / "volumes" / volume.name
            target.mkdir(parents=True, exist_ok=True)
            for name, data in volume.files.items():
                path = target / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                path.chmod(volume.mode & 0o777 or 0o644)
                files[str(path)] = _digest(data)
            volume_dirs[volume.name] = str(target)
        for mount in plan.mounts:
            self._ensure_mount_point(Path(mount.path))
        hosts = directory / "hosts"
        _write_in_place(hosts, hosts_file(plan.name, address, self._names.get(plan.namespace, {})))
        script = directory / "run.sh"
        script.write_text(launch_script(plan, volume_dirs, str(hosts)))
        component = start(
            f"pod-{plan.name}",
            ["unshare", "--mount", "--propagation", "private", "sh", str(script)],
            directory / "pod.log",
            die_with_parent=self.die_with_parent,
        )
        return RunningPod(plan, address, directory, component, time.monotonic(), files=files)

    def _ensure_mount_point(self, path: Path) -> None:
        """Create a missing mount point; each directory a runner creates carries
        :data:`MOUNT_POINT_MARK`, so whichever runner stops last removes it."""
        missing: list[Path] = []
        probe = path
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for directory in reversed(missing):
            directory.mkdir(exist_ok=True)
            (directory / MOUNT_POINT_MARK).touch()
        if path not in self._mount_points:
            self._mount_points.append(path)

    def _stop_pod(self, running: RunningPod, why: str) -> None:
        with self._lock:
            self._pods.pop(running.key, None)
        if running.prober is not None:
            running.prober.stop()
        running.component.stop(grace=5)
        self._free_hosts.append(int(running.address.rsplit(".", 1)[1]))
        self.say(f"pod {running.key} ({running.plan.kind}) stopped: {why}")

    def _restart(self, running: RunningPod) -> None:
        if time.monotonic() - running.started < RESTART_BACKOFF:
            return
        code = running.component.process.returncode
        self.say(f"pod {running.key}: process exited with {code}; restarting (as the kubelet)")
        script = running.directory / "run.sh"
        running.component = start(
            running.component.name,
            ["unshare", "--mount", "--propagation", "private", "sh", str(script)],
            running.directory / "pod.log",
            die_with_parent=self.die_with_parent,
        )
        running.started = time.monotonic()
        running.restarts += 1
        if running.prober is not None:
            running.prober.reset(running.started)

    def _refresh_files(self, running: RunningPod, pod: JsonObject, cluster: Cluster) -> None:
        """ConfigMap and Secret volumes follow their objects (as the kubelet syncs them)."""
        try:
            fresh = plan_pod(pod, running.address, cluster, None)
        except NotRunnable:
            return
        for volume in fresh.volumes:
            for name, data in volume.files.items():
                path = running.directory / "volumes" / volume.name / name
                digest = _digest(data)
                if running.files.get(str(path)) != digest:
                    temporary = path.with_name(f".{name}.new")
                    temporary.write_bytes(data)
                    temporary.chmod(volume.mode & 0o777 or 0o644)
                    temporary.replace(path)
                    running.files[str(path)] = digest

    # -- services ---------------------------------------------------------------------

    def _sync_services(self) -> None:
        services = [s for s in self._list("services") if (s.get("spec") or {}).get("selector")]
        slices = self._list("endpointslices", "/apis/discovery.k8s.io/v1")
        pods = self.running()
        names: dict[str, dict[str, str]] = {}
        for service in services:
            meta = service["metadata"]
            key = f"{meta['namespace']}/{meta['name']}"
            ip = self._service_ips.get(key)
            if ip is None:
                ip = f"127.{self._subnet}.200.{len(self._service_ips) + 1}"
                self._service_ips[key] = ip
            for namespace in {meta["namespace"], *(p.plan.namespace for p in pods.values())}:
                for name in service_names(meta["namespace"], meta["name"], namespace):
                    names.setdefault(namespace, {})[name] = ip
            for port in service["spec"].get("ports") or []:
                listener = f"{key}:{port['port']}"
                self.proxies.listen(listener, ip, int(port["port"]))
                backends = _backends(meta, port.get("name") or "", slices, pods)
                self.proxies.set_backends(listener, backends)
                for exposed, (ns, svc, port_name) in list(self._exposed.items()):
                    if (ns, svc, port_name) == (meta["namespace"], meta["name"], port.get("name")):
                        self.proxies.set_backends(exposed, backends)
        self._names = names
        for running in pods.values():
            hosts = hosts_file(
                running.plan.name, running.address, names.get(running.plan.namespace, {})
            )
            path = running.directory / "hosts"
            if path.read_text() != hosts:
                _write_in_place(path, hosts)

    def _write_targets(self) -> None:
        groups = []
        for running in self.running().values():
            port = running.plan.metrics_port()
            if port is None:
                continue
            labels = {
                "namespace": running.plan.namespace,
                "pod": running.plan.name,
                "kind": running.plan.kind,
            }
            groups.append({"targets": [f"{running.address}:{port}"], "labels": labels})
        text = json.dumps(sorted(groups, key=lambda g: g["labels"]["pod"]), indent=1)
        if not self.targets_file.exists() or self.targets_file.read_text() != text:
            temporary = self.targets_file.with_suffix(".new")
            temporary.write_text(text)
            temporary.replace(self.targets_file)


def _pod_ready(pod: JsonObject) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _remove_mount_point(path: Path) -> None:
    """Remove ``path`` and its parents while each was made by a runner (marked), holds
    nothing else and has no mount left in any process."""
    for directory in [path, *path.parents]:
        mark = directory / MOUNT_POINT_MARK
        try:
            if not mark.exists() or {e.name for e in directory.iterdir()} != {MOUNT_POINT_MARK}:
                return
        except OSError:
            return
        if _mounted_elsewhere(directory):
            return
        with contextlib.suppress(OSError):
            mark.unlink()
            directory.rmdir()


def _mounted_elsewhere(path: Path) -> bool:
    """Some process (another runner's pod) has a mount at or under ``path``: removing the
    directory would detach it there."""
    prefix = str(path).rstrip("/")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            lines = (entry / "mountinfo").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 4 and (fields[4] == prefix or fields[4].startswith(prefix + "/")):
                return True
    return False


def _backends(
    service: JsonObject, port_name: str, slices: list[JsonObject], pods: dict[str, RunningPod]
) -> list[tuple[str, int]]:
    """Ready endpoints of the Service's EndpointSlices that the runner runs, on the
    slice's port of the same name."""
    found: list[tuple[str, int]] = []
    for item in slices:
        labels = item["metadata"].get("labels") or {}
        if item["metadata"]["namespace"] != service["namespace"]:
            continue
        if labels.get("kubernetes.io/service-name") != service["name"]:
            continue
        port = next(
            (p for p in item.get("ports") or [] if (p.get("name") or "") == port_name), None
        )
        if port is None or port.get("port") is None:
            continue
        for endpoint in item.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            ready = (endpoint.get("conditions") or {}).get("ready", True)
            running = pods.get(f"{ref.get('namespace')}/{ref.get('name')}")
            if ready and ref.get("kind") == "Pod" and running is not None:
                found.append((running.address, int(port["port"])))
    return found
