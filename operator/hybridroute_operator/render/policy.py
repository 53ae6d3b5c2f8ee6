"""The router policy for one HybridRoute, and the ConfigMap that carries it (pure)."""

from __future__ import annotations

import hashlib

import yaml
from hybridroute_policy import (
    CURRENT_DEFAULTS,
    DEFAULTS_KEY,
    ApiKeySource,
    LargeModel,
    Policy,
    SmallModel,
    SmallVersion,
    Upstream,
)

from hybridroute_operator.api.spec import HybridRouteSpec, ModelEndpoint
from hybridroute_operator.observed import LARGE, Observed, small_target
from hybridroute_operator.render.artifacts import complexity_policy, similarity_policy
from hybridroute_operator.render.common import (
    POLICY_KEY,
    SECRETS_DIR,
    Manifest,
    RouteRef,
    large_service_name,
    metadata,
    policy_configmap_name,
    small_service_name,
)

POLICY_HASH_ANNOTATION = "inferensys.io/policy-sha256"


def secret_file(name: str, key: str) -> str:
    return f"{SECRETS_DIR}/{name}/{key}"


def base_url(route: RouteRef, endpoint: ModelEndpoint, own_service: str) -> str:
    """The URL the router calls: the operator's own Service for a selector, the referenced
    Service, or the external URL as given."""
    if endpoint.url is not None:
        return endpoint.url
    service = endpoint.service if endpoint.service is not None else own_service
    return f"http://{service}.{route.namespace}.svc:{endpoint.port}{endpoint.path}"


def upstream(route: RouteRef, endpoint: ModelEndpoint, model: str, own_service: str) -> Upstream:
    ref = endpoint.api_key_secret_ref
    return Upstream(
        base_url=base_url(route, endpoint, own_service),
        model=model,
        api_key=ApiKeySource(file=secret_file(ref.name, ref.key)) if ref else None,
        tls_verify=endpoint.tls_verify,
        timeouts=endpoint.timeouts,
        max_connections=endpoint.max_connections,
    )


def build_policy(route: RouteRef, spec: HybridRouteSpec, observed: Observed) -> Policy:
    """The policy the router loads. A version whose pods have no ready endpoint is marked
    ``ready: false``: the router never sends it traffic, the weights stay as written."""
    large = LargeModel(
        upstream=upstream(route, spec.large.endpoint, spec.large.model, large_service_name(route)),
        pricing=spec.large.pricing,
        energy=spec.large.energy,
    )
    versions = [
        SmallVersion(
            name=v.name,
            weight=v.weight,
            ready=observed.health(small_target(v.name)).is_ready,
            shadow_percent=v.shadow_percent,
            upstream=upstream(
                route, v.endpoint, v.model or spec.small.model, small_service_name(route, v.name)
            ),
        )
        for v in spec.small.versions
    ]
    p = spec.policy
    return Policy(
        route=route.name,
        public_model=p.public_model or route.name,
        large=large,
        small=SmallModel(versions=versions, pricing=spec.small.pricing, energy=spec.small.energy),
        complexity=complexity_policy(p.complexity, observed.config_maps),
        similarity=similarity_policy(p.similarity, observed.config_maps),
        confidence=p.confidence,
        tiers=p.tiers,
        shadow=p.shadow,
        retries=p.retries,
        circuit_breaker=p.circuit_breaker,
        limits=p.limits,
        logging=p.logging,
    )


def policy_yaml(policy: Policy) -> str:
    """The policy as the router reads it, holding only values that differ from the policy
    models' defaults (the router fills those in, so nothing is lost). A field added to the
    policy later is optional, so the policy of a route that does not use it has no key an
    older router rejects (its models forbid unknown keys): routers may lag the operator.
    Defaults are therefore part of the policy contract: a changed one (``complexity.scorer``,
    now ``auto``) needs its upgrade path (docs/router.md, "Upgrading: the default scorer"):
    the ConfigMap names the defaults generation beside it (:func:`build_policy_configmap`)."""
    doc = policy.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(doc, sort_keys=True)


def build_policy_configmap(route: RouteRef, policy: Policy) -> Manifest:
    """``policy.yaml`` and, beside it, ``policy-defaults``: the generation of the defaults
    it leaves out (hybridroute_policy.defaults). Routers that know the key read what is
    left out with those defaults; without it (an older operator's ConfigMap) with those of
    before the key (``complexity.scorer: heuristic``); older routers ignore it."""
    text = policy_yaml(policy)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(
            route,
            policy_configmap_name(route),
            "policy",
            annotations={POLICY_HASH_ANNOTATION: digest},
        ),
        "data": {POLICY_KEY: text, DEFAULTS_KEY: str(CURRENT_DEFAULTS)},
    }


__all__ = ["LARGE", "build_policy", "build_policy_configmap", "policy_yaml"]
