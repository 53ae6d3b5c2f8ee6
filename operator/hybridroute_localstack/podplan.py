"""DEV-ONLY, never part of the product: how the local pod runner turns one pod, as the
API server holds it, into one local process (pure; ``podrunner.py`` carries it out).

The kwok node runs no containers. For a pod the runner knows how to run, the plan is
the process the pod's container would run:

- argv: the container's ``command`` (else the image's ENTRYPOINT, from
  :data:`IMAGE_ENTRYPOINTS`, the Dockerfiles' ENTRYPOINT as console scripts of this
  checkout's venv) followed by its ``args``, untouched except ``0.0.0.0`` (the
  container's own interfaces) which becomes the pod's loopback address, so several
  replicas can listen on the same container port side by side;
- env: the container's ``env`` (values, ``fieldRef`` to the pod's name, namespace and
  IP, ``configMapKeyRef``/``secretKeyRef``) plus what the kubelet injects:
  ``KUBERNETES_SERVICE_HOST``/``PORT`` (the local API server) and ``HOSTNAME``;
- files: each volume (``configMap``, ``secret``, ``emptyDir``, and the service-account
  token the kubelet projects at ``/var/run/secrets/kubernetes.io/serviceaccount``),
  materialised under the pod's directory, then bind-mounted at the container's own
  ``mountPath`` inside a private mount namespace (``unshare --mount``), so the process
  reads ``/etc/hybridroute/policy/policy.yaml`` as in the cluster, and nothing of the
  host changes (mount points that do not exist are created, marked, and removed by the
  last runner that stops);
- ``/etc/hosts``: a file per pod, as the kubelet writes one, bind-mounted over
  ``/etc/hosts`` in the same namespace: it maps each Service's DNS names
  (``NAME.NAMESPACE.svc[.cluster.local]``, and ``NAME`` in the pod's namespace) to the
  loopback address where the runner's service proxy forwards to that Service's ready
  endpoints. No host-wide ``/etc/hosts`` edit, no DNS server, no proxy variables.

A model pod runs a replay server when its template carries the dev-only annotation
:data:`REPLAY_ANNOTATION` (its value: the replay server's options, e.g. ``--role
large``); Kubernetes ignores it on a real cluster.
"""

from __future__ import annotations

import base64
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

JsonObject = dict[str, Any]

REPLAY_ANNOTATION = "local.hybridroute.dev/replay"
ADDRESS_ANNOTATION = "local.hybridroute.dev/address"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
REPLAY_MODULE = "hybridroute_localstack.replay.server"
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - the container's own interfaces, translated below
TMP = "/tmp"  # noqa: S108 - the container path of an emptyDir, not a host temp file
IMAGE_ENTRYPOINTS: dict[str, tuple[str, ...]] = {
    "hybridroute-router": ("hybridroute-router",),
    "hybridroute-operator": ("hybridroute-operator",),
}
"""Image repository name -> ENTRYPOINT (router-sidecar/Dockerfile, operator/Dockerfile)."""


class NotRunnable(ValueError):
    """The pod has nothing the runner can run locally (an image it does not know)."""


@dataclass(frozen=True)
class Volume:
    """A volume materialised as a directory: file name -> content."""

    name: str
    files: dict[str, bytes] = field(default_factory=dict)
    mode: int = 0o644


@dataclass(frozen=True)
class Mount:
    volume: str
    path: str
    read_only: bool


@dataclass(frozen=True)
class PodPlan:
    namespace: str
    name: str
    uid: str
    kind: str
    """``replay`` (a model server) or the image's name (``hybridroute-router``)."""
    argv: tuple[str, ...]
    env: dict[str, str]
    volumes: tuple[Volume, ...]
    mounts: tuple[Mount, ...]
    ports: dict[str, int]
    """Named container ports (``http``, ``admin``, ...; ``port-N`` when unnamed)."""
    config_maps: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def metrics_port(self) -> int | None:
        """Where ``/metrics`` is served: the ``admin`` port, else the first one."""
        if "admin" in self.ports:
            return self.ports["admin"]
        return next(iter(self.ports.values()), None)


@dataclass(frozen=True)
class Cluster:
    """What the kubelet would know: the API server, its CA, config data."""

    api_host: str
    api_port: int
    ca_pem: bytes
    config_maps: dict[str, JsonObject]
    """``namespace/name`` -> ConfigMap ``data``."""
    secrets: dict[str, JsonObject]
    """``namespace/name`` -> Secret ``data`` (base64 values)."""
    bin_dir: str
    """Where the console scripts live (this venv's bin)."""


def image_name(image: str) -> str:
    """``ghcr.io/org/hybridroute-router:0.1.0@sha256:..`` -> ``hybridroute-router``."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def translate_address(args: list[str], address: str) -> list[str]:
    """``0.0.0.0`` (alone or as ``--flag=0.0.0.0``) becomes the pod's own address."""
    out = []
    for arg in args:
        if arg == ANY_ADDRESS:
            out.append(address)
        elif arg.endswith("=" + ANY_ADDRESS):
            out.append(arg[: -len(ANY_ADDRESS)] + address)
        else:
            out.append(arg)
    return out


def _ports(container: JsonObject) -> dict[str, int]:
    ports: dict[str, int] = {}
    for i, port in enumerate(container.get("ports") or []):
        ports[str(port.get("name") or f"port-{i}")] = int(port["containerPort"])
    return ports


def command_of(pod: JsonObject, container: JsonObject, address: str, bin_dir: str) -> list[str]:
    """The process of the pod's (first) container, or :class:`NotRunnable`."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if REPLAY_ANNOTATION in annotations:
        ports = list(_ports(container).values()) or [8000]
        options = shlex.split(str(annotations[REPLAY_ANNOTATION]))
        replay = [sys.executable, "-m", REPLAY_MODULE, *options]
        return [*replay, "--host", address, "--port", str(ports[0])]
    name = image_name(str(container.get("image", "")))
    entrypoint = container.get("command") or [
        f"{bin_dir}/{part}" if i == 0 else part
        for i, part in enumerate(IMAGE_ENTRYPOINTS.get(name, ()))
    ]
    if not entrypoint:
        raise NotRunnable(f"image {container.get('image')!r} has no local stand-in")
    return translate_address([*entrypoint, *(container.get("args") or [])], address)


def _env_value(item: JsonObject, pod: JsonObject, address: str, cluster: Cluster) -> str | None:
    if "value" in item:
        return str(item["value"])
    source = item.get("valueFrom") or {}
    namespace = pod["metadata"]["namespace"]
    if "fieldRef" in source:
        fields = {
            "metadata.name": pod["metadata"]["name"],
            "metadata.namespace": namespace,
            "status.podIP": address,
            "spec.nodeName": pod["spec"].get("nodeName", ""),
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        }
        return fields.get(source["fieldRef"].get("fieldPath", ""))
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        data = cluster.config_maps.get(f"{namespace}/{ref['name']}") or {}
        value = data.get(ref["key"])
        return None if value is None else str(value)
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        data = cluster.secrets.get(f"{namespace}/{ref['name']}") or {}
        raw = data.get(ref["key"])
        return None if raw is None else base64.b64decode(raw).decode(errors="replace")
    return None


def _bytes(value: object) -> bytes:
    """A ConfigMap value: ``data`` is text, ``binaryData`` arrives decoded as bytes."""
    return value if isinstance(value, bytes) else str(value).encode()


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion in env values, command and args: a defined
    variable is replaced, an undefined reference stays as written, ``$$`` is ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(one, text)


def _keys(source: JsonObject, data: dict[str, Any]) -> dict[str, str]:
    """Projected file path -> key (``items`` when given, else every key)."""
    items = source.get("items")
    if items:
        return {str(i.get("path") or i["key"]): str(i["key"]) for i in items}
    return {k: k for k in data}


def _volume(spec: JsonObject, namespace: str, cluster: Cluster) -> Volume | None:
    name = str(spec["name"])
    if "configMap" in spec:
        source = spec["configMap"]
        data = cluster.config_maps.get(f"{namespace}/{source['name']}") or {}
        files = {p: _bytes(data[k]) for p, k in _keys(source, data).items() if k in data}
        return Volume(name, files)
    if "secret" in spec:
        source = spec["secret"]
        data = cluster.secrets.get(f"{namespace}/{source['secretName']}") or {}
        files = {p: base64.b64decode(data[k]) for p, k in _keys(source, data).items() if k in data}
        return Volume(name, files, mode=int(source.get("defaultMode", 0o644)))
    if "emptyDir" in spec:
        return Volume(name)
    return None


def plan_pod(pod: JsonObject, address: str, cluster: Cluster, token: str | None) -> PodPlan:
    """The plan of ``pod`` on ``address`` (raises :class:`NotRunnable`)."""
    meta, spec = pod["metadata"], pod["spec"]
    namespace = str(meta["namespace"])
    container = (spec.get("containers") or [{}])[0]
    argv = command_of(pod, container, address, cluster.bin_dir)
    kind = "replay" if argv[1:3] == ["-m", REPLAY_MODULE] else image_name(container["image"])
    env = {
        "PATH": f"{cluster.bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "HOSTNAME": str(meta["name"]),
        "KUBERNETES_SERVICE_HOST": cluster.api_host,
        "KUBERNETES_SERVICE_PORT": str(cluster.api_port),
        "PYTHONUNBUFFERED": "1",
    }
    for item in container.get("env") or []:  # in order: each may use the ones before
        value = _env_value(item, pod, address, cluster)
        if value is not None:
            env[str(item["name"])] = expand(value, env) if "value" in item else value
    if kind != "replay":
        argv = [expand(part, env) for part in argv]
    volumes = [v for v in (_volume(s, namespace, cluster) for s in spec.get("volumes") or []) if v]
    mounts = [
        Mount(str(m["name"]), str(m["mountPath"]), bool(m.get("readOnly", False)))
        for m in container.get("volumeMounts") or []
        if any(v.name == m["name"] for v in volumes)
    ]
    if token is not None and spec.get("automountServiceAccountToken", True) is not False:
        account = Volume(
            "kube-api-access",
            {"token": token.encode(), "ca.crt": cluster.ca_pem, "namespace": namespace.encode()},
        )
        volumes.append(account)
        mounts.append(Mount(account.name, SERVICE_ACCOUNT_DIR, True))
    config_maps = tuple(
        f"{namespace}/{s['configMap']['name']}"
        for s in spec.get("volumes") or []
        if "configMap" in s
    )
    return PodPlan(
        namespace=namespace,
        name=str(meta["name"]),
        uid=str(meta["uid"]),
        kind=kind,
        argv=tuple(argv),
        env=env,
        volumes=tuple(volumes),
        mounts=tuple(sorted(mounts, key=lambda m: len(PurePosixPath(m.path).parts))),
        ports=_ports(container),
        config_maps=config_maps,
    )


def hosts_file(pod_name: str, address: str, names: dict[str, str]) -> str:
    """A pod's ``/etc/hosts``: localhost, the pod itself, then ``names`` (name -> IP)."""
    lines = ["# written by the hybridroute local pod runner (dev-only)", "127.0.0.1\tlocalhost"]
    lines.append(f"{address}\t{pod_name}")
    by_ip: dict[str, list[str]] = {}
    for name, ip in sorted(names.items()):
        by_ip.setdefault(ip, []).append(name)
    lines += [f"{ip}\t{' '.join(hosts)}" for ip, hosts in sorted(by_ip.items())]
    return "\n".join(lines) + "\n"


def service_names(namespace: str, service: str, pod_namespace: str) -> list[str]:
    """The DNS names a pod in ``pod_namespace`` may use for a Service."""
    names = [f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]
    if namespace == pod_namespace:
        names.insert(0, service)
    return names


def launch_script(
    plan: PodPlan, volume_dirs: dict[str, str], hosts: str, workdir: str = "/"
) -> str:
    """The shell script run as ``unshare --mount --propagation private sh SCRIPT``:
    bind mounts at the container's paths, then ``exec`` of the pod's process."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"# pod {plan.key} ({plan.kind}), run by the hybridroute local pod runner (dev-only)",
        "set -eu",
        f"mount --bind {q(hosts)} /etc/hosts",
    ]
    tmp_last: list[str] = []
    for mount in plan.mounts:
        line = f"mount --bind {q(volume_dirs[mount.volume])} {q(mount.path)}"
        if mount.read_only:
            line += f" && mount -o remount,bind,ro {q(mount.path)}"
        (tmp_last if mount.path.rstrip("/") == TMP else lines).append(line)
    lines += tmp_last  # last: the pod's own files may live under the host's /tmp
    env = " ".join(q(f"{k}={v}") for k, v in sorted(plan.env.items()))
    lines += [f"cd {q(workdir)}", f"exec env -i {env} {' '.join(q(a) for a in plan.argv)}"]
    return "\n".join(lines) + "\n"
