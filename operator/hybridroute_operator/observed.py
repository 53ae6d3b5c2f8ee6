"""What the operator observed in the cluster, as plain immutable data (no I/O here).

``reconcile`` fills these from the API; ``render`` and ``status`` are pure functions of them.
"""

from __future__ import annotations

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

    def health(self, target: str) -> EndpointHealth:
        return self.endpoints.get(target, EndpointHealth(ready=0, total=0))


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
