"""The fake node that kwok keeps Ready, as a pure manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FAKE_NODE_NAME = "kwok-node-0"
KWOK_CONFIG = Path(__file__).resolve().parent / "data" / "kwok.yaml"


def fake_node(name: str = FAKE_NODE_NAME) -> dict[str, Any]:
    """A Node that kwok manages (annotation ``kwok.x-k8s.io/node=fake``), untainted."""
    resources = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {"allocatable": resources, "capacity": resources},
    }
