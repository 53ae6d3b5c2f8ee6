"""A control loop's output reaches the reconciler; only a different one needs a reconcile
(a steady savings reading must cost no status write and no reconcile)."""

from __future__ import annotations

from typing import cast

import pytest
from hybridroute_operator.controls import ConditionNote, LoopOutput
from hybridroute_operator.kube import KubeApi
from hybridroute_operator.metrics import OperatorMetrics
from hybridroute_operator.reconcile import Reconciler

pytestmark = pytest.mark.unit
KEY = ("ns", "r")


def reconciler_with_route() -> Reconciler:
    # loop_output never calls the API: no client is needed
    reconciler = Reconciler(cast(KubeApi, None), OperatorMetrics())
    reconciler.route_seen(
        {"metadata": {"name": "r", "namespace": "ns", "uid": "u", "generation": 1}, "spec": {}}
    )
    return reconciler


def reading(share: float, time: str) -> LoopOutput:
    return LoopOutput(section={"smallShare": share, "reason": "Measured", "time": time})


def test_only_an_output_different_from_the_last_one_asks_for_a_reconcile() -> None:
    r = reconciler_with_route()
    assert r.loop_output(KEY, "savings", (), reading(0.5, "t0")) is True  # the first
    assert r.loop_output(KEY, "savings", (), reading(0.5, "t0")) is False  # the same again
    assert r.loop_output(KEY, "savings", (), reading(0.6, "t1")) is True
    assert r.status_view(KEY)["savings"]["smallShare"] == 0.6
    assert r.loop_output(KEY, "savings", (), None) is True  # switched off
    assert "savings" not in r.status_view(KEY)


def test_a_changed_condition_is_a_change() -> None:
    r = reconciler_with_route()
    ok = ConditionNote("LoadAdapted", True, "WithinTarget", "m")
    held = ConditionNote("LoadAdapted", False, "NoData", "m")
    section = {"effectiveThreshold": 0.5}
    types = ("LoadAdapted",)
    assert r.loop_output(KEY, "adaptation", types, LoopOutput(section, (ok,))) is True
    assert r.loop_output(KEY, "adaptation", types, LoopOutput(section, (ok,))) is False
    assert r.loop_output(KEY, "adaptation", types, LoopOutput(section, (held,))) is True


def test_an_unknown_route_records_nothing() -> None:
    r = reconciler_with_route()
    assert r.loop_output(("ns", "gone"), "savings", (), reading(0.5, "t0")) is False
    assert ("ns", "gone") not in r.loop_outputs


def test_every_evaluation_is_counted_even_one_that_changes_nothing() -> None:
    """Status is not a heartbeat: the evaluations show in the operator's metrics."""
    r = reconciler_with_route()
    labels = {"namespace": "ns", "route": "r", "loop": "savings"}
    total = "hybridroute_operator_loop_evaluations_total"

    def count() -> float | None:
        return r.metrics.registry.get_sample_value(total, labels)

    for _ in range(3):
        r.loop_output(KEY, "savings", (), reading(0.5, "t0"))
    assert count() == 3
    r.loop_output(KEY, "savings", (), None)  # switched off: no evaluation, series gone
    assert count() is None
    r.loop_output(KEY, "savings", (), reading(0.5, "t0"))
    r.route_gone({"metadata": {"name": "r", "namespace": "ns"}})
    assert count() is None
