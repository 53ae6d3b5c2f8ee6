"""Status of a HybridRoute as a pure function of what was asked, observed and done.

Problems the schema cannot express are found by a chain of small checks (cert-manager
style): each returns a ``Problem`` with a bounded ``reason`` and a readable message.
Conditions follow metav1.Condition; ``lastTransitionTime`` only moves when status flips.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hybridroute_policy import Policy

from hybridroute_operator.api.spec import HybridRouteSpec, ModelEndpoint
from hybridroute_operator.artifacts import artifact_refs, missing_keys
from hybridroute_operator.observed import LARGE, Observed, small_target

Condition = dict[str, Any]
OutcomeKind = Literal["applied", "invalid", "blocked", "failed"]


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str
    blocking: bool = False  # True: the policy is not updated, the router keeps the last good one
    holds_router: bool = False  # True (with blocking): an existing router Deployment is held too


@dataclass(frozen=True)
class Outcome:
    """What the reconcile did: applied everything, or why not."""

    kind: OutcomeKind
    reason: str = "Applied"
    message: str = "all children applied"


def _targets(spec: HybridRouteSpec) -> list[tuple[str, str, ModelEndpoint]]:
    """(target id, human label, endpoint) for every model target."""
    out = [(LARGE, "large model", spec.large.endpoint)]
    out.extend(
        (small_target(v.name), f"small version {v.name}", v.endpoint) for v in spec.small.versions
    )
    return out


def _missing_services(spec: HybridRouteSpec, observed: Observed) -> list[Problem]:
    return [
        Problem(
            "ServiceNotFound",
            f"{label}: Service {endpoint.service!r} does not exist; "
            "the router keeps the last good policy",
            blocking=True,
        )
        for target, label, endpoint in _targets(spec)
        if endpoint.service is not None and not observed.health(target).service_exists
    ]


def _no_pods(spec: HybridRouteSpec, observed: Observed) -> list[Problem]:
    problems = []
    for target, label, endpoint in _targets(spec):
        health = observed.health(target)
        if not health.known or not health.service_exists:
            continue
        if health.total == 0:
            what = (
                f"selector {endpoint.selector}"
                if endpoint.selector
                else f"Service {endpoint.service!r}"
            )
            problems.append(Problem("NoPodsSelected", f"{label}: {what} matches no pods"))
        elif health.ready == 0:
            problems.append(
                Problem("NoReadyEndpoints", f"{label}: none of {health.total} endpoints is ready")
            )
    return problems


def _artifact_config_maps(spec: HybridRouteSpec, observed: Observed) -> list[Problem]:
    """A referenced scorer artifact or examples ConfigMap that is missing or lacks a key:
    neither the policy nor an existing router Deployment is updated (a new ConfigMap
    name would roll the pods onto an empty mount), so the routers keep their last good
    scorer."""
    problems = []
    for ref in artifact_refs(spec):
        files = observed.config_maps.get(ref.config_map)
        if files is None:
            problems.append(
                Problem(
                    "ArtifactConfigMapNotFound",
                    f"{ref.field}: ConfigMap {ref.config_map!r} does not exist; "
                    "the router keeps its last good scorer and policy",
                    blocking=True,
                    holds_router=True,
                )
            )
        elif missing := missing_keys(files, ref.keys):
            problems.append(
                Problem(
                    "ArtifactConfigMapIncomplete",
                    f"{ref.field}: ConfigMap {ref.config_map!r} lacks the "
                    f"{ref.what} key(s) {', '.join(missing)}; "
                    "the router keeps its last good scorer and policy",
                    blocking=True,
                    holds_router=True,
                )
            )
    return problems


CHECKS: Sequence[Callable[[HybridRouteSpec, Observed], list[Problem]]] = (
    _missing_services,
    _no_pods,
    _artifact_config_maps,
)


def find_problems(spec: HybridRouteSpec, observed: Observed) -> list[Problem]:
    return [problem for check in CHECKS for problem in check(spec, observed)]


def condition(
    type_: str,
    ok: bool,
    reason: str,
    message: str,
    generation: int,
    now: str,
    previous: Mapping[str, Condition],
) -> Condition:
    status = "True" if ok else "False"
    before = previous.get(type_) or {}
    moved = before.get("status") != status
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": now if moved else before.get("lastTransitionTime", now),
    }


def _ready(
    spec: HybridRouteSpec | None, observed: Observed, outcome: Outcome
) -> tuple[bool, str, str]:
    if spec is None or outcome.kind == "invalid":
        return False, outcome.reason, outcome.message
    if observed.router.available < 1:
        return (
            False,
            "RouterNotAvailable",
            (
                f"router Deployment has {observed.router.available} available "
                f"of {observed.router.desired} replicas"
            ),
        )
    if not observed.health(LARGE).is_ready:
        return False, "LargeModelNotReady", "the large model has no ready endpoint"
    if not any(observed.health(small_target(v.name)).is_ready for v in spec.small.versions):
        return False, "NoSmallVersionReady", "no small-model version has a ready endpoint"
    return (
        True,
        "RouterServing",
        f"router serving with {observed.router.available} available replicas",
    )


def make_conditions(
    *,
    spec: HybridRouteSpec | None,
    observed: Observed,
    outcome: Outcome,
    problems: Sequence[Problem],
    generation: int,
    now: str,
    previous: Sequence[Condition],
) -> list[Condition]:
    """Ready, Reconciled and Degraded, and kstatus' Reconciling and Stalled (so Flux's
    default health check reads a HybridRoute right); conditions of other types (the
    control loops') are kept as they are."""
    before = {c.get("type", ""): c for c in previous}
    ok, reason, message = _ready(spec, observed, outcome)
    degraded = list(problems)
    stalled = outcome.kind in ("invalid", "blocked")  # waits for a person, not for time
    ours = [
        condition("Ready", ok, reason, message, generation, now, before),
        condition(
            "Reconciled",
            outcome.kind == "applied",
            outcome.reason,
            outcome.message,
            generation,
            now,
            before,
        ),
        condition(
            "Degraded",
            bool(degraded),
            degraded[0].reason if degraded else "AllTargetsReady",
            "; ".join(p.message for p in degraded)
            if degraded
            else "every model target has ready endpoints",
            generation,
            now,
            before,
        ),
        condition(
            "Stalled",
            stalled,
            outcome.reason if stalled else "NotStalled",
            outcome.message if stalled else "nothing blocks the reconcile",
            generation,
            now,
            before,
        ),
        condition(
            "Reconciling",
            not ok and not stalled,
            reason if not ok and not stalled else "Settled",
            message if not ok and not stalled else "nothing left to wait for",
            generation,
            now,
            before,
        ),
    ]
    mine = {c["type"] for c in ours}
    return ours + [c for c in previous if c.get("type") not in mine]


def policy_summary(policy: Policy) -> dict[str, Any]:
    versions = sorted(policy.small.versions, key=lambda v: -v.weight)
    stable = versions[0]
    return {
        "publicModel": policy.public_model,
        "threshold": policy.complexity.threshold,
        "scorer": str(policy.complexity.scorer),
        **_artifact_summary(policy),
        "confidenceCascade": policy.confidence.enabled,
        "shadowPercent": policy.shadow.percent,
        "stableVersion": stable.name,
        "canaryWeight": 100 - stable.weight,
        "weights": {v.name: v.weight for v in policy.small.versions},
        "readyVersions": [v.name for v in policy.small.versions if v.ready],
    }


def _artifact_summary(policy: Policy) -> dict[str, Any]:
    """The artifact hashes the policy asks the routers to run (from the ConfigMaps)."""
    out: dict[str, Any] = {}
    if policy.complexity.scorer_artifact_sha256:
        out["scorerArtifactSha256"] = policy.complexity.scorer_artifact_sha256
    if policy.similarity.examples_sha256:
        out["examplesSha256"] = policy.similarity.examples_sha256
    return out


def _target_status(observed: Observed, target: str) -> dict[str, Any]:
    health = observed.health(target)
    if not health.known:
        return {"ready": True, "external": True}
    return {
        "ready": health.is_ready,
        "readyEndpoints": health.ready,
        "totalEndpoints": health.total,
    }


def build_status(
    *,
    spec: HybridRouteSpec | None,
    observed: Observed,
    outcome: Outcome,
    problems: Sequence[Problem],
    policy: Policy | None,
    generation: int,
    endpoint: str,
    now: str,
    previous: Mapping[str, Any],
) -> dict[str, Any]:
    """The operator's part of ``status``; keys owned by other controllers are untouched
    (the caller merges this into the object)."""
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": make_conditions(
            spec=spec,
            observed=observed,
            outcome=outcome,
            problems=problems,
            generation=generation,
            now=now,
            previous=previous.get("conditions") or [],
        ),
        "routerEndpoint": endpoint,
        "router": {
            "desiredReplicas": observed.router.desired,
            "readyReplicas": observed.router.ready,
            "availableReplicas": observed.router.available,
        },
    }
    if spec is not None:
        status["large"] = _target_status(observed, LARGE)
        status["versions"] = [
            {"name": v.name, "weight": v.weight, **_target_status(observed, small_target(v.name))}
            for v in spec.small.versions
        ]
    if policy is not None:
        status["policy"] = policy_summary(policy)
    return status


def same_status(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when writing ``new`` would change nothing in ``old``."""
    return all(old.get(k) == v for k, v in new.items())
