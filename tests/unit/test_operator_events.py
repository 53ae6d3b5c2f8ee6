"""How watch events feed the reconciler (in-process, no cluster): readiness index,
drift versus stale events, which events trigger a reconcile and how urgently."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from hybridroute_operator.kube import KubeApi
from hybridroute_operator.metrics import OperatorMetrics
from hybridroute_operator.observed import EndpointHealth, ObservedIndex
from hybridroute_operator.reconcile import Reconciler, Trigger

pytestmark = pytest.mark.unit


def slice_(service: str, name: str, ready: list[bool], rv: str = "1") -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": rv,
            "labels": {"kubernetes.io/service-name": service},
        },
        "endpoints": [{"conditions": {"ready": r}} for r in ready],
    }


def test_index_sums_slices_and_forgets_deleted_ones() -> None:
    index = ObservedIndex()
    assert index.health("ns", "svc") is None  # never seen: the caller reads the API
    index.slice_event("ADDED", slice_("svc", "a", [True, False]))
    index.slice_event("ADDED", slice_("svc", "b", [True]))
    assert index.health("ns", "svc") == EndpointHealth(ready=2, total=3)
    index.slice_event("DELETED", slice_("svc", "b", [True]))
    assert index.health("ns", "svc") == EndpointHealth(ready=1, total=2)


def test_listed_service_without_slices_is_known_to_have_none() -> None:
    index = ObservedIndex()
    index.learn_slices("ns", ["empty", "full"], [slice_("full", "x", [True])])
    assert index.health("ns", "empty") == EndpointHealth(ready=0, total=0)
    assert index.health("ns", "full") == EndpointHealth(ready=1, total=1)


def reconciler_with_route() -> Reconciler:
    # child_seen and slice_seen never call the API: no client is needed
    reconciler = Reconciler(cast(KubeApi, None), OperatorMetrics())
    reconciler.route_seen(
        {"metadata": {"name": "r", "namespace": "ns", "uid": "u", "generation": 1}, "spec": {}}
    )
    return reconciler


CONFIGMAP: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "r-policy", "namespace": "ns", "labels": {"inferensys.io/route": "r"}},
    "data": {"policy.yaml": "route: r\n"},
}


def test_hand_edit_triggers_an_urgent_restore_but_a_stale_event_does_not() -> None:
    reconciler = reconciler_with_route()
    reconciler.cache.remember(("ns", "r"), CONFIGMAP, resource_version="20")
    stale = copy.deepcopy(CONFIGMAP)
    stale["metadata"]["resourceVersion"] = "15"
    stale["data"]["policy.yaml"] = "route: older\n"
    assert reconciler.child_seen("MODIFIED", stale) is None
    edited = copy.deepcopy(stale)
    edited["metadata"]["resourceVersion"] = "25"
    assert reconciler.child_seen("MODIFIED", edited) == Trigger(("ns", "r"), urgent=True)
    assert reconciler.cache.desired(("ns", "r"), ("v1", "ConfigMap", "r-policy")) is None


def test_unchanged_child_triggers_nothing_and_deployment_status_a_debounced_refresh() -> None:
    reconciler = reconciler_with_route()
    reconciler.cache.remember(("ns", "r"), CONFIGMAP, resource_version="20")
    same = copy.deepcopy(CONFIGMAP)
    same["metadata"]["resourceVersion"] = "21"
    assert reconciler.child_seen("MODIFIED", same) is None
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "r-router", "namespace": "ns", "labels": {"inferensys.io/route": "r"}},
        "spec": {"replicas": 2},
        "status": {"availableReplicas": 1},
    }
    assert reconciler.child_seen("MODIFIED", deployment) == Trigger(("ns", "r"), urgent=False)
    assert reconciler.index.routers[("ns", "r")].available == 1


def test_children_of_unknown_routes_are_ignored() -> None:
    reconciler = reconciler_with_route()
    other = copy.deepcopy(CONFIGMAP)
    other["metadata"]["labels"]["inferensys.io/route"] = "someone-else"
    assert reconciler.child_seen("DELETED", other) is None
