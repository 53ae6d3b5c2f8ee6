"""HybridRoute objects with the status of every phase, for the GitOps health checks'
tests (test_argocd_health.py, test_flux_health.py). Each case: a name, the object, and
the message the Argo CD check must show (part of it)."""

from __future__ import annotations

from typing import Any


def cond(kind: str, status: str, reason: str, message: str = "", gen: int = 2) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": gen,
        "lastTransitionTime": "2026-11-29T08:00:00Z",
    }


READY = cond("Ready", "True", "RouterServing", "router serving with 2 available replicas")
RECONCILED = cond("Reconciled", "True", "Applied", "all children applied")
NOT_DEGRADED = cond("Degraded", "False", "AllTargetsReady")


def route(
    *conditions: dict[str, Any], observed: int | None = 2, canary: dict[str, Any] | None = None
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "inferensys.io/v1alpha1",
        "kind": "HybridRoute",
        "metadata": {"name": "support", "namespace": "llm", "generation": 2},
        "spec": {},
    }
    if observed is not None:
        obj["status"] = {"observedGeneration": observed, "conditions": list(conditions)}
        if canary is not None:
            obj["status"]["canary"] = canary
    return obj


def canary(phase: str, weight: int = 10) -> dict[str, Any]:
    return {"phase": phase, "stable": "v3", "candidate": "v4", "step": 1, "weight": weight}


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("never observed", route(observed=None), "Progressing", "Waiting for the operator"),
    (
        "spec changed, not observed yet",
        route(READY, RECONCILED, observed=1),
        "Progressing",
        "observe generation 2",
    ),
    (
        "Ready written for an older generation",
        route(cond("Ready", "True", "RouterServing", gen=1), RECONCILED),
        "Progressing",
        "Ready condition of generation 2",
    ),
    ("serving", route(READY, RECONCILED, NOT_DEGRADED), "Healthy", "RouterServing: router"),
    (
        "serving with a version that has no pods",
        route(READY, RECONCILED, cond("Degraded", "True", "NoPodsSelected", "small version v4")),
        "Healthy",
        "RouterServing",
    ),
    (
        "router pods starting",
        route(cond("Ready", "False", "RouterNotAvailable", "0 of 2"), RECONCILED, NOT_DEGRADED),
        "Progressing",
        "RouterNotAvailable: 0 of 2",
    ),
    (
        "large model without ready endpoints",
        route(
            cond("Ready", "False", "LargeModelNotReady", "the large model has no ready endpoint"),
            RECONCILED,
            cond("Degraded", "True", "NoReadyEndpoints", "large model: none of 2 endpoints"),
        ),
        "Degraded",
        "LargeModelNotReady: the large model has no ready endpoint (NoReadyEndpoints",
    ),
    (
        "a referenced Service missing",
        route(
            READY,
            cond("Reconciled", "False", "ServiceNotFound", "large model: Service 'llm' missing"),
        ),
        "Degraded",
        "ServiceNotFound: large model",
    ),
    (
        "invalid spec",
        route(cond("Ready", "False", "InvalidSpec", "spec.small.versions: weights")),
        "Degraded",
        "InvalidSpec: spec.small.versions",
    ),
    (
        "canary pending",
        route(READY, RECONCILED, canary=canary("Pending", 0)),
        "Progressing",
        "Canary v4 Pending at weight 0%",
    ),
    (
        "canary progressing",
        route(READY, RECONCILED, canary=canary("Progressing", 25)),
        "Progressing",
        "Canary v4 Progressing at weight 25%",
    ),
    (
        "canary promoting",
        route(READY, RECONCILED, canary=canary("Promoting", 100)),
        "Progressing",
        "Canary v4 Promoting at weight 100%",
    ),
    (
        "canary paused",
        route(READY, RECONCILED, canary=canary("Paused", 10)),
        "Suspended",
        "Canary v4 paused at weight 10%",
    ),
    (
        "canary rolled back",
        route(
            READY,
            RECONCILED,
            canary={**canary("RolledBack", 0), "message": "agreement 0.41 < 0.80"},
        ),
        "Degraded",
        "Canary v4 rolled back: agreement 0.41 < 0.80",
    ),
    (
        "canary succeeded",
        route(READY, RECONCILED, canary=canary("Succeeded", 100)),
        "Healthy",
        "RouterServing",
    ),
    ("no canary yet", route(READY, RECONCILED, canary=canary("Idle", 0)), "Healthy", "Router"),
    (
        "a condition without reason or message",
        route({"type": "Ready", "status": "False", "observedGeneration": 2}),
        "Progressing",
        "Ready",
    ),
]
