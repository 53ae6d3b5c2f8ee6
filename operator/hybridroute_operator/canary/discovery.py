"""Student versions found from Deployments' labels, and the versions the state machine
sees (pure: the loop lists the Deployments; this decides what they mean)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hybridroute_operator.api.constants import MAX_VERSION_NAME
from hybridroute_operator.api.spec import DNS_LABEL, DiscoverySpec, HybridRouteSpec
from hybridroute_operator.canary.machine import Manual, Version, World
from hybridroute_operator.canary.rollout import parse_time

_NAME = re.compile(DNS_LABEL)


@dataclass(frozen=True)
class Discovered:
    name: str
    selector: Mapping[str, str]
    port: int
    model: str | None
    ready: bool
    created: float

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "selector": dict(self.selector)}
        out["port"] = self.port
        if self.model:
            out["model"] = self.model
        return out


def label_selector(discovery: DiscoverySpec) -> str:
    """The LIST label selector: the discovery labels plus "the version label exists"."""
    parts = [f"{k}={v}" for k, v in sorted(discovery.selector.items())]
    return ",".join([*parts, discovery.version_label])


def _ready(deployment: Mapping[str, Any]) -> bool:
    status = deployment.get("status") or {}
    return int(status.get("readyReplicas") or 0) > 0


def discover(
    discovery: DiscoverySpec, deployments: Iterable[Mapping[str, Any]]
) -> tuple[list[Discovered], list[str]]:
    """Versions from Deployments (oldest first; several Deployments with one version
    are one version, ready when any is) and the reasons some were ignored."""
    found: dict[str, Discovered] = {}
    ignored: list[str] = []
    for d in deployments:
        meta = d.get("metadata") or {}
        labels = meta.get("labels") or {}
        if any(labels.get(k) != v for k, v in discovery.selector.items()):
            continue
        value = labels.get(discovery.version_label)
        if not isinstance(value, str):
            continue
        if len(value) > MAX_VERSION_NAME or not _NAME.match(value):
            ignored.append(
                f"Deployment {meta.get('name')}: version {value!r} is not a DNS label of at "
                f"most {MAX_VERSION_NAME} characters"
            )
            continue
        created = parse_time(meta.get("creationTimestamp")) or 0.0
        selector = {**discovery.selector, discovery.version_label: value}
        prior = found.get(value)
        found[value] = Discovered(
            name=value,
            selector=selector,
            port=discovery.port,
            model=discovery.model,
            ready=_ready(d) or (prior is not None and prior.ready),
            created=created if prior is None else min(created, prior.created),
        )
    return sorted(found.values(), key=lambda v: (v.created, v.name)), ignored


def initial_stable(spec: HybridRouteSpec) -> str:
    """The hand-listed version with the highest weight (the first of equals)."""
    best = max(spec.small.versions, key=lambda v: v.weight)
    return best.name


def build_world(
    spec: HybridRouteSpec,
    status: Mapping[str, Any],
    discovered: Sequence[Discovered],
    annotations: Mapping[str, str],
) -> World:
    """Hand-listed versions in order, then discovered ones by creation time. Readiness is
    the reconciler's (``status.versions``, from EndpointSlices); a discovered version it
    has not reported yet counts as ready when its Deployment has ready replicas."""
    reported = {
        str(v.get("name")): bool(v.get("ready"))
        for v in status.get("versions") or []
        if isinstance(v, Mapping)
    }
    versions = [Version(v.name, reported.get(v.name, False)) for v in spec.small.versions]
    listed = {v.name for v in versions}
    for d in discovered:
        if d.name not in listed:
            ready = d.ready and reported.get(d.name, True)
            versions.append(Version(d.name, ready, discovered=True))
    return World(
        versions=tuple(versions),
        initial_stable=initial_stable(spec),
        manual=Manual.from_annotations(annotations),
    )
