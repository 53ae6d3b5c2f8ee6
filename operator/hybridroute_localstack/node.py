"""The fake node that kwok keeps Ready and the Stage type kwok reads its stages from,
as pure manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

FAKE_NODE_NAME = "kwok-node-0"
KWOK_CONFIG = Path(__file__).resolve().parent / "data" / "kwok.yaml"
KWOK_STAGES = Path(__file__).resolve().parent / "data" / "kwok-stages.yaml"
STAGE_CRD_NAME = "stages.kwok.x-k8s.io"


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


def stage_crd() -> dict[str, Any]:
    """The ``kwok.x-k8s.io/v1alpha1`` ``Stage`` type kwok lists and watches with
    ``enableCRDs: [Stage]`` (cluster-scoped). Only kwok reads these objects, which it
    validates itself; the schema here keeps every field as written."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": STAGE_CRD_NAME},
        "spec": {
            "group": "kwok.x-k8s.io",
            "scope": "Cluster",
            "names": {
                "kind": "Stage",
                "listKind": "StageList",
                "plural": "stages",
                "singular": "stage",
            },
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
