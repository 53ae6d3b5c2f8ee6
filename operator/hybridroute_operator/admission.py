"""What the validating admission webhook checks beyond the CRD schema (pure).

The schema and its CEL rules already reject most bad specs. The webhook adds: the whole
spec through the pydantic models (the same code the operator reconciles with), the
rendered router policy through the router's own models, and rules CEL cannot say."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from hybridroute_operator.api.spec import HybridRouteSpec, SpecError, parse_spec
from hybridroute_operator.observed import Observed
from hybridroute_operator.render import RouteRef, build_policy


def _tier_default_known(spec: HybridRouteSpec) -> str | None:
    tiers = spec.policy.tiers
    if tiers.default is not None and tiers.default not in tiers.rules:
        known = ", ".join(sorted(tiers.rules)) or "none"
        return f"spec.policy.tiers.default: {tiers.default!r} is not a tier in rules ({known})"
    return None


def _tier_keys_known(spec: HybridRouteSpec) -> str | None:
    tiers = spec.policy.tiers
    unknown = sorted(set(tiers.api_key_sha256.values()) - set(tiers.rules))
    if unknown:
        return f"spec.policy.tiers.apiKeySha256 maps keys to unknown tiers: {', '.join(unknown)}"
    return None


RULES = (_tier_default_known, _tier_keys_known)


def admission_problem(name: str, namespace: str, raw_spec: Mapping[str, Any]) -> str | None:
    """None when the spec is acceptable, else one readable message."""
    try:
        spec = parse_spec(raw_spec)
    except SpecError as exc:
        return str(exc)
    for rule in RULES:
        problem = rule(spec)
        if problem is not None:
            return problem
    try:
        build_policy(RouteRef(name=name, namespace=namespace, uid=""), spec, Observed())
    except ValidationError as exc:
        return f"the router policy rendered from this spec is invalid: {exc.errors()[0]['msg']}"
    return None
