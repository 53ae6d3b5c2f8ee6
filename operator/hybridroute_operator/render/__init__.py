"""Pure render functions: a HybridRoute (spec + what was observed) -> its children."""

from __future__ import annotations

from hybridroute_operator.api.constants import ROUTER_PORT
from hybridroute_operator.api.spec import HybridRouteSpec
from hybridroute_operator.observed import Observed
from hybridroute_operator.render.common import (
    POLICY_KEY,
    Manifest,
    RouteRef,
    key_of,
    large_service_name,
    policy_configmap_name,
    router_name,
    small_service_name,
)
from hybridroute_operator.render.events import build_event
from hybridroute_operator.render.models import build_model_services
from hybridroute_operator.render.policy import build_policy, build_policy_configmap, policy_yaml
from hybridroute_operator.render.router import (
    build_deployment,
    build_hpa,
    build_pdb,
    build_role,
    build_role_binding,
    build_router_service,
    build_service_account,
    build_service_monitor,
)


def render(route: RouteRef, spec: HybridRouteSpec, observed: Observed) -> list[Manifest]:
    """Every child of one HybridRoute, in apply order (RBAC and policy before the
    Deployment that needs them)."""
    children: list[Manifest] = [
        build_service_account(route),
        build_role(route),
        build_role_binding(route),
        build_policy_configmap(route, build_policy(route, spec, observed)),
        *build_model_services(route, spec),
        build_router_service(route, spec),
        build_deployment(route, spec),
        build_pdb(route),
    ]
    hpa = build_hpa(route, spec)
    if hpa is not None:
        children.append(hpa)
    if observed.service_monitor_api and spec.monitoring.service_monitor:
        children.append(build_service_monitor(route, spec))
    return children


def router_endpoint(route: RouteRef) -> str:
    return f"http://{router_name(route)}.{route.namespace}.svc:{ROUTER_PORT}/v1"


__all__ = [
    "POLICY_KEY",
    "Manifest",
    "RouteRef",
    "build_event",
    "build_policy",
    "build_policy_configmap",
    "key_of",
    "large_service_name",
    "policy_configmap_name",
    "policy_yaml",
    "render",
    "router_endpoint",
    "router_name",
    "small_service_name",
]
