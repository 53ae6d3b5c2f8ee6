"""The lock-free per-request metrics expose exactly what prometheus_client's Counter and
Histogram would for the same updates (apart from the optional ``_created`` series)."""

from __future__ import annotations

import pytest
from hybridroute_router.telemetry.fast import FastCollector, FastCounter, FastHistogram
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

pytestmark = pytest.mark.unit

BUCKETS = (0.001, 0.01, 0.1, 1.0, 10.0)
labels = st.sampled_from(["a", "b", "c"])
values = st.floats(min_value=0, max_value=100, allow_nan=False)


def exposition(registry: CollectorRegistry) -> list[str]:
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if not line.startswith("#") and "_created" not in line
    ]


@settings(deadline=None)  # no per-example time limit: a loaded box is slow
@given(updates=st.lists(st.tuples(labels, values), max_size=40))
def test_fast_histogram_matches_prometheus_client(updates: list[tuple[str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = FastHistogram("x_seconds", "doc", ["route"], BUCKETS)
    ours.register(FastCollector([fast]))
    reference = Histogram("x_seconds", "doc", ["route"], buckets=BUCKETS, registry=theirs)
    for label, value in updates:
        fast.labels(label).observe(value)
        reference.labels(label).observe(value)
    assert sorted(exposition(ours)) == sorted(exposition(theirs))


@settings(deadline=None)  # no per-example time limit: a loaded box is slow
@given(updates=st.lists(st.tuples(labels, labels, values), max_size=40))
def test_fast_counter_matches_prometheus_client(updates: list[tuple[str, str, float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = FastCounter("x", "doc", ["route", "model"])
    ours.register(FastCollector([fast]))
    reference = Counter("x", "doc", ["route", "model"], registry=theirs)
    for route, model, value in updates:
        fast.labels(route, model).inc(value)
        reference.labels(route, model).inc(value)
    assert sorted(exposition(ours)) == sorted(exposition(theirs))


def test_wrong_label_count_is_refused() -> None:
    with pytest.raises(ValueError, match="takes labels"):
        FastCounter("x", "doc", ["route"]).labels("a", "b")
