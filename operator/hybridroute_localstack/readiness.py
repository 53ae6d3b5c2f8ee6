"""DEV-ONLY, never part of the product: readiness of the pods the local pod runner runs.

kwok alone reports a pod Ready the moment it is scheduled. For the namespaces it runs,
the pod runner registers a kwok ``Stage`` (:func:`runner_stage`, positive weight, so it
wins over the base ``pod-ready`` stage of ``data/kwok-stages.yaml``) that makes such a
pod Running but not Ready. The runner then probes the process as the kubelet runs a
readiness probe (:class:`Probe`: the container's ``readinessProbe`` ``httpGet`` or
``tcpSocket``, else a TCP connect to its first port) and publishes the outcome as the
pod annotation :data:`READY_ANNOTATION` (``"true"``/``"false"``), on which kwok's
``pod-probe-passed`` / ``pod-probe-failed`` stages flip the pod's Ready condition; the
endpoints controller then puts the pod in (or takes it out of) its Services'
EndpointSlices, and a Deployment counts it available only from then on.

Pure except :func:`check`, the probe itself (loopback only).
"""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass, replace
from typing import Any

JsonObject = dict[str, Any]

READY_ANNOTATION = "local.hybridroute.dev/ready"
STAGE_PATH = "/apis/kwok.x-k8s.io/v1alpha1/stages"
RUNNER_STAGE_PREFIX = "hybridroute-pod-runner"

_STARTED_UNREADY = """{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready,
   reason: ContainersNotReady}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: ContainersReady,
   reason: ContainersNotReady}
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: PodScheduled}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ with NodeIPsWith .spec.nodeName }}
hostIP: {{ index . 0 | Quote }}
{{ end }}
{{ with PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" )
     ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
"""
"""The status a pod the runner runs gets from kwok: Running, its container started but
not ready (the shape of the base ``pod-ready`` stage with Ready ``False``)."""


def runner_stage_name(namespaces: list[str] | None) -> str:
    """One Stage per set of namespaces (a restarted runner replaces its own)."""
    if namespaces is None:
        return f"{RUNNER_STAGE_PREFIX}-all-namespaces"
    return f"{RUNNER_STAGE_PREFIX}-{'-'.join(sorted(namespaces))}"[:253]


def runner_stage(namespaces: list[str] | None) -> JsonObject:
    """The kwok Stage that starts the runner's pods Running but not Ready."""
    expressions: list[JsonObject] = [
        {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
        {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
        {
            "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
            "operator": "NotIn",
            "values": ["True"],
        },
    ]
    if namespaces is not None:
        expressions.append(
            {"key": ".metadata.namespace", "operator": "In", "values": sorted(namespaces)}
        )
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {
            "name": runner_stage_name(namespaces),
            "labels": {"app.kubernetes.io/managed-by": "hybridroute-pod-runner"},
        },
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": expressions},
            "weight": 1,
            "next": {"statusTemplate": _STARTED_UNREADY},
        },
    }


@dataclass(frozen=True)
class Probe:
    """A readiness probe as the runner runs it: ``http`` (GET ``path``, 200-399 is a
    pass), ``tcp`` (a connect), or ``none`` (ready while the process runs)."""

    kind: str
    port: int = 0
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


def _port(value: object, ports: dict[str, int]) -> int:
    """A probe's ``port``: a number or the name of a container port."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    if isinstance(value, str) and value in ports:
        return ports[value]
    raise ValueError(f"the probe's port {value!r} is not a port of the container")


def probe_of(container: JsonObject, ports: dict[str, int]) -> Probe:
    """The readiness probe of ``container`` (``ports``: its named ports). No probe, or
    one the runner does not run (``exec``, ``grpc``, HTTPS), is a TCP connect to the
    first port; without ports the pod is ready while its process runs."""
    spec = container.get("readinessProbe") or {}
    timed = Probe(
        "none",
        initial_delay=float(spec.get("initialDelaySeconds", 0)),
        period=float(spec.get("periodSeconds", 10)),
        timeout=float(spec.get("timeoutSeconds", 1)),
        success_threshold=int(spec.get("successThreshold", 1)),
        failure_threshold=int(spec.get("failureThreshold", 3)),
    )
    get = spec.get("httpGet")
    if get is not None and str(get.get("scheme", "HTTP")).upper() == "HTTP":
        headers = tuple((str(h["name"]), str(h["value"])) for h in get.get("httpHeaders") or [])
        port, path = _port(get.get("port"), ports), str(get.get("path") or "/")
        return replace(timed, kind="http", port=port, path=path, headers=headers)
    if "tcpSocket" in spec:
        return replace(timed, kind="tcp", port=_port(spec["tcpSocket"].get("port"), ports))
    first = next(iter(ports.values()), None)
    return timed if first is None else replace(timed, kind="tcp", port=first)


@dataclass
class ProbeState:
    """Consecutive outcomes of one pod's probe and whether it counts as ready; a pod
    starts not ready, as under the kubelet."""

    ready: bool = False
    successes: int = 0
    failures: int = 0
    due: float = 0.0

    def record(self, probe: Probe, passed: bool, now: float, quick: float) -> None:
        """One outcome at ``now``. Until the first pass the next probe is due after
        ``quick`` seconds (the runner's poll; the kubelet waits ``periodSeconds``),
        afterwards after ``periodSeconds``."""
        if passed:
            self.successes, self.failures = self.successes + 1, 0
            if not self.ready and self.successes >= probe.success_threshold:
                self.ready = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.ready and self.failures >= probe.failure_threshold:
                self.ready = False
        self.due = now + (probe.period if self.ready else quick)


def check(probe: Probe, address: str) -> bool:
    """Run ``probe`` once against the process on ``address`` (a loopback address)."""
    if not address.startswith("127."):
        raise ValueError(f"probes only talk to loopback, not {address}")
    if probe.kind == "none":
        return True
    try:
        if probe.kind == "tcp":
            with socket.create_connection((address, probe.port), timeout=probe.timeout):
                return True
        connection = http.client.HTTPConnection(address, probe.port, timeout=probe.timeout)
        try:
            connection.request("GET", probe.path, headers=dict(probe.headers))
            status = connection.getresponse().status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException):
        return False
    return 200 <= status < 400
