"""Names, labels and owner references shared by every rendered child (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hybridroute_operator.api.constants import (
    API_VERSION,
    KIND,
    LABEL_COMPONENT,
    LABEL_MANAGED_BY,
    LABEL_ROUTE,
    MANAGED_BY,
)

Manifest = dict[str, Any]

POLICY_KEY = "policy.yaml"
POLICY_DIR = "/etc/hybridroute/policy"
SECRETS_DIR = "/etc/hybridroute/secrets"


@dataclass(frozen=True)
class RouteRef:
    """The identity of one HybridRoute: enough to name and own its children."""

    name: str
    namespace: str
    uid: str
    generation: int = 1


def policy_configmap_name(route: RouteRef) -> str:
    return f"{route.name}-policy"


def router_name(route: RouteRef) -> str:
    return f"{route.name}-router"


def large_service_name(route: RouteRef) -> str:
    return f"{route.name}-large"


def small_service_name(route: RouteRef, version: str) -> str:
    return f"{route.name}-small-{version}"


def labels(route: RouteRef, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "hybridroute",
        "app.kubernetes.io/instance": route.name,
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_ROUTE: route.name,
    }


def selector_labels(route: RouteRef, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/instance": route.name,
        LABEL_COMPONENT: component,
        LABEL_ROUTE: route.name,
    }


def owner_reference(route: RouteRef) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": route.name,
        "uid": route.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(route: RouteRef, name: str, component: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": route.namespace,
        "labels": labels(route, component),
        "ownerReferences": [owner_reference(route)],
    }
    meta.update(extra)
    return meta


def key_of(manifest: Manifest) -> tuple[str, str, str]:
    """(apiVersion, kind, name): identifies a child within its route's namespace."""
    return (str(manifest["apiVersion"]), str(manifest["kind"]), str(manifest["metadata"]["name"]))
