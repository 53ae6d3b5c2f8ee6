"""The kubeconfig of a local control plane: pure rendering, usable by kubectl and kopf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CONTEXT = "hybridroute-local"


def render_kubeconfig(server: str, ca: Path, cert: Path, key: Path) -> dict[str, Any]:
    """A kubeconfig with one cluster, one admin user and one current context."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {
                "name": "admin",
                "user": {"client-certificate": str(cert), "client-key": str(key)},
            }
        ],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": "admin", "namespace": "default"},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path) -> Path:
    path.write_text(yaml.safe_dump(render_kubeconfig(server, ca, cert, key), sort_keys=False))
    path.chmod(0o600)
    return path
