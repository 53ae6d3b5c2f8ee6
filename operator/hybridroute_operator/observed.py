"""What the operator observed in the cluster, as plain immutable data (no I/O here).

``reconcile`` fills these from the API; ``render`` and ``status`` are pure functions of them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

LARGE = "large"


def small_target(version: str) -> str:
    return f"small/{version}"


@dataclass(frozen=True)
class EndpointHealth:
    """Readiness of one model target. ``service_exists`` is False when a referenced Service
    is missing; ``known`` is False for external URLs (nothing in the cluster to look at)."""

    ready: int = 0
    total: int = 0
    service_exists: bool = True
    known: bool = True

    @property
    def is_ready(self) -> bool:
        return not self.known or (self.service_exists and self.ready > 0)


EXTERNAL = EndpointHealth(known=False)


@dataclass(frozen=True)
class RouterHealth:
    desired: int = 0
    ready: int = 0
    available: int = 0
    exists: bool = False


@dataclass(frozen=True)
class Observed:
    endpoints: Mapping[str, EndpointHealth] = field(default_factory=dict)
    router: RouterHealth = RouterHealth()
    service_monitor_api: bool = False
    config_maps: Mapping[str, Mapping[str, bytes] | None] = field(default_factory=dict)
    """Referenced artifact ConfigMaps by name: their keys and bytes, None when missing."""

    def health(self, target: str) -> EndpointHealth:
        return self.endpoints.get(target, EndpointHealth(ready=0, total=0))


def configmap_files(body: Mapping[str, Any] | None) -> dict[str, bytes] | None:
    """A ConfigMap's keys and bytes: ``data`` UTF-8 encoded, ``binaryData`` decoded."""
    if body is None:
        return None
    files = {k: str(v).encode() for k, v in (body.get("data") or {}).items()}
    for key, value in (body.get("binaryData") or {}).items():
        files[key] = base64.b64decode(str(value))
    return files


def endpoint_health(
    slices: Iterable[Mapping[str, Any]], *, service_exists: bool = True
) -> EndpointHealth:
    """Count ready and total endpoints over the EndpointSlices of one Service."""
    ready = total = 0
    for slice_ in slices:
        for endpoint in slice_.get("endpoints") or []:
            total += 1
            conditions = endpoint.get("conditions") or {}
            if conditions.get("ready", True) is not False:
                ready += 1
    return EndpointHealth(ready=ready, total=total, service_exists=service_exists)


def router_health(deployment: Mapping[str, Any] | None) -> RouterHealth:
    if deployment is None:
        return RouterHealth()
    status = deployment.get("status") or {}
    return RouterHealth(
        desired=int((deployment.get("spec") or {}).get("replicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        exists=True,
    )


ServiceKey = tuple[str, str]  # (namespace, service name)


@dataclass
class ObservedIndex:
    """Readiness learned from watch events, so a status refresh needs no API call.

    Per Service: ready/total endpoint counts of each of its EndpointSlices (a Service
    present here with no slices is known to have none). Per route: the router
    Deployment's health. A miss means "not seen yet": the caller reads the API."""

    slices: dict[ServiceKey, dict[str, tuple[int, int]]] = field(default_factory=dict)
    routers: dict[ServiceKey, RouterHealth] = field(default_factory=dict)

    def slice_event(self, event_type: str | None, body: Mapping[str, Any]) -> ServiceKey | None:
        meta = body.get("metadata") or {}
        service = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if not service:
            return None
        key = (str(meta.get("namespace")), str(service))
        per_service = self.slices.setdefault(key, {})
        if event_type == "DELETED":
            per_service.pop(str(meta.get("name")), None)
        else:
            health = endpoint_health([body])
            per_service[str(meta.get("name"))] = (health.ready, health.total)
        return key

    def learn_slices(
        self, namespace: str, services: Iterable[str], items: Iterable[Mapping[str, Any]]
    ) -> None:
        """Index a LIST answer; the listed Services without slices are known to have none."""
        for service in services:
            self.slices[(namespace, service)] = {}
        for item in items:
            self.slice_event("ADDED", item)

    def health(
        self, namespace: str, service: str, *, service_exists: bool = True
    ) -> EndpointHealth | None:
        per_service = self.slices.get((namespace, service))
        if per_service is None:
            return None
        ready = sum(r for r, _ in per_service.values())
        total = sum(t for _, t in per_service.values())
        return EndpointHealth(ready=ready, total=total, service_exists=service_exists)

    def router_event(
        self, route: ServiceKey, event_type: str | None, body: Mapping[str, Any]
    ) -> None:
        if event_type == "DELETED":
            self.routers.pop(route, None)
        else:
            self.routers[route] = router_health(body)

    def forget(self, namespace: str, services: Iterable[str], route: ServiceKey) -> None:
        for service in services:
            self.slices.pop((namespace, service), None)
        self.routers.pop(route, None)
