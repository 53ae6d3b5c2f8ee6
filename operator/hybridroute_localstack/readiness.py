"""DEV-ONLY, never part of the product: readiness of the pods the local pod runner runs.

kwok alone reports a pod Ready the moment it is scheduled. For the namespaces it runs,
the pod runner registers a kwok ``Stage`` (:func:`runner_stage`, positive weight, so it
wins over the base ``pod-ready`` stage of ``data/kwok-stages.yaml``; its lifecycle on the
API server is ``runnerstage.py``) that makes such a pod Running but not Ready. The
runner then probes the process (``prober.py``: a thread per pod) as the kubelet runs a
readiness probe (:class:`Probe`: the container's ``readinessProbe`` ``httpGet`` or
``tcpSocket``, else a TCP connect to its first port) and publishes the outcome as the
pod annotation :data:`READY_ANNOTATION` (``"true"``/``"false"``), on which kwok's
``pod-probe-passed`` / ``pod-probe-failed`` stages flip the pod's Ready condition; the
endpoints controller then puts the pod in (or takes it out of) its Services'
EndpointSlices, and a Deployment counts it available only from then on.

Pure except :func:`check`, the probe itself (loopback only).
"""

from __future__ import annotations

import socket
import time
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


PROBE_USER_AGENT = "kube-probe/1.36"
"""What the kubelet sends as ``User-Agent`` (``kube-probe/MAJOR.MINOR``)."""
_MAX_STATUS_LINE = 8192


def check(probe: Probe, address: str) -> bool:
    """Run ``probe`` once against the process on ``address`` (a loopback address).

    As the kubelet's probe, it fails once ``probe.timeout`` seconds have passed in total
    (connect, request and status line together): a server that accepts and never
    answers, or answers a byte at a time, fails it; 200-399 passes an HTTP probe."""
    if not address.startswith("127."):
        raise ValueError(f"probes only talk to loopback, not {address}")
    if probe.kind == "none":
        return True
    deadline = time.monotonic() + probe.timeout
    try:
        with socket.create_connection((address, probe.port), timeout=probe.timeout) as sock:
            if probe.kind == "tcp":
                return True
            sock.sendall(_request(probe, address))
            status = _status(sock, deadline)
    except (OSError, ValueError):
        return False
    return 200 <= status < 400


def _request(probe: Probe, address: str) -> bytes:
    """The probe's GET as the kubelet sends it; its own headers override the defaults."""
    own = {name.lower() for name, _ in probe.headers} | {"connection"}
    defaults = [("Host", f"{address}:{probe.port}"), ("User-Agent", PROBE_USER_AGENT),
                ("Accept", "*/*")]  # fmt: skip
    headers = [
        *((k, v) for k, v in defaults if k.lower() not in own),
        *((k, v) for k, v in probe.headers if k.lower() != "connection"),
        ("Connection", "close"),
    ]
    lines = [f"GET {probe.path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)]
    if any("\r" in line or "\n" in line for line in lines):
        raise ValueError("a line break in the probe's path or headers")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _status(sock: socket.socket, deadline: float) -> int:
    """The status code of the answer's first line, read before ``deadline``."""
    head = b""
    while b"\n" not in head:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no status line within the probe's timeout")
        sock.settimeout(remaining)
        chunk = sock.recv(1024)
        if not chunk:
            raise ConnectionError("closed before the status line")
        head += chunk
        if len(head) > _MAX_STATUS_LINE:
            raise ValueError("no status line")
    parts = head.split(b"\n", 1)[0].split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {head[:80]!r}")
    return int(parts[1])
