"""One Service per model target whose pods are chosen by a label selector (pure)."""

from __future__ import annotations

from hybridroute_operator.api.spec import HybridRouteSpec, ModelEndpoint
from hybridroute_operator.render.common import (
    Manifest,
    RouteRef,
    large_service_name,
    metadata,
    small_service_name,
)

VERSION_LABEL = "inferensys.io/version"


def build_model_service(
    route: RouteRef, name: str, endpoint: ModelEndpoint, component: str, version: str | None = None
) -> Manifest | None:
    """A Service selecting the user's model pods; None when the endpoint is an existing
    Service or an external URL (nothing to create)."""
    if endpoint.selector is None or endpoint.port is None:
        return None
    meta = metadata(route, name, component)
    if version is not None:
        meta["labels"][VERSION_LABEL] = version
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": dict(sorted(endpoint.selector.items())),
            "ports": [
                {
                    "name": "http",
                    "port": endpoint.port,
                    "targetPort": endpoint.port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def build_model_services(route: RouteRef, spec: HybridRouteSpec) -> list[Manifest]:
    services = [
        build_model_service(route, large_service_name(route), spec.large.endpoint, "model-large")
    ]
    services.extend(
        build_model_service(
            route, small_service_name(route, v.name), v.endpoint, "model-small", version=v.name
        )
        for v in spec.small.versions
    )
    return [s for s in services if s is not None]
