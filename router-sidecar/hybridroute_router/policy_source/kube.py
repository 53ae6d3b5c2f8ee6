"""Just enough Kubernetes API access for one ConfigMap, with plain httpx: the in-cluster
service account (token + CA) or a kubeconfig file (server, CA, token or client cert)."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class KubeAccess:
    server: str
    ssl: ssl.SSLContext | bool
    token_file: str | None = None
    token: str | None = None

    def headers(self) -> dict[str, str]:
        token = self.token
        if self.token_file is not None:  # re-read: projected tokens rotate
            token = Path(self.token_file).read_text(encoding="utf-8").strip()
        return {"Authorization": f"Bearer {token}"} if token else {}


def in_cluster() -> KubeAccess:
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    if not host or not port:
        raise KubeConfigError("not in a cluster (KUBERNETES_SERVICE_HOST unset); pass --kubeconfig")
    if ":" in host:
        host = f"[{host}]"
    ctx = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    return KubeAccess(f"https://{host}:{port}", ctx, token_file=str(SERVICE_ACCOUNT / "token"))


def _resolve(path: Any, folder: Path) -> Path:
    """kubectl's rule: a relative path in a kubeconfig is relative to the file's folder."""
    resolved = Path(str(path))
    return resolved if resolved.is_absolute() else folder / resolved


def _pem(entry: dict[str, Any], key: str, folder: Path) -> bytes | None:
    """The PEM bytes of ``key`` (a path) or ``key-data`` (base64) of a kubeconfig entry."""
    if entry.get(key):
        try:
            return _resolve(entry[key], folder).read_bytes()
        except OSError as exc:
            raise KubeConfigError(f"kubeconfig {key}: {exc}") from exc
    data = entry.get(f"{key}-data")
    return base64.b64decode(data) if data else None


def _load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """ssl loads a key pair only from files: they live in a private temporary directory
    only while they are read (the context keeps them in memory)."""
    with tempfile.TemporaryDirectory(prefix="hybridroute-kube-") as workdir:
        cert_path, key_path = Path(workdir) / "client.crt", Path(workdir) / "client.key"
        for path, data in ((cert_path, cert), (key_path, key)):
            path.touch(mode=0o600)
            path.write_bytes(data)
        ctx.load_cert_chain(str(cert_path), str(key_path))


def from_kubeconfig(path: str | Path) -> KubeAccess:
    try:
        config = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KubeConfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    try:
        name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(
            (
                u.get("user") or {}
                for u in config.get("users", [])
                if u["name"] == context.get("user")
            ),
            {},
        )
    except (KeyError, StopIteration, TypeError) as exc:
        raise KubeConfigError(f"kubeconfig {path}: no usable current context ({exc})") from exc
    folder = Path(path).parent
    server = str(cluster["server"]).rstrip("/")
    ctx: ssl.SSLContext | bool = True
    if server.startswith("https://"):
        if cluster.get("insecure-skip-tls-verify"):
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ca = _pem(cluster, "certificate-authority", folder)
            ctx = ssl.create_default_context(cadata=ca.decode("ascii") if ca else None)
        cert = _pem(user, "client-certificate", folder)
        key = _pem(user, "client-key", folder)
        if cert and key:
            try:
                _load_client_cert(ctx, cert, key)
            except ssl.SSLError as exc:
                raise KubeConfigError(f"kubeconfig {path}: client certificate: {exc}") from exc
    token_file = user.get("tokenFile")
    return KubeAccess(
        server,
        ctx,
        token_file=str(_resolve(token_file, folder)) if token_file else None,
        token=user.get("token"),
    )
