"""The pod runner's readiness probes as data: which probe a container gets, when a pod
counts as ready or unready, and the kwok Stage that keeps the runner's pods unready."""

from __future__ import annotations

import pytest
from hybridroute_localstack.readiness import Probe, ProbeState, probe_of, runner_stage

pytestmark = pytest.mark.unit
PORTS = {"http": 8080, "admin": 9090}


def test_an_http_readiness_probe_resolves_its_named_port_and_keeps_its_timing() -> None:
    container = {"readinessProbe": {"httpGet": {"path": "/readyz", "port": "admin"},
                                    "periodSeconds": 5, "failureThreshold": 2}}  # fmt: skip
    probe = probe_of(container, PORTS)
    assert (probe.kind, probe.port, probe.path) == ("http", 9090, "/readyz")
    assert (probe.period, probe.failure_threshold, probe.success_threshold) == (5, 2, 1)


def test_without_a_probe_the_first_port_must_accept_and_without_ports_running_is_ready() -> None:
    assert (probe_of({}, PORTS).kind, probe_of({}, PORTS).port) == ("tcp", 8080)
    assert probe_of({"readinessProbe": {"tcpSocket": {"port": 7000}}}, PORTS).port == 7000
    assert probe_of({"readinessProbe": {"exec": {"command": ["true"]}}}, PORTS).kind == "tcp"
    assert probe_of({}, {}).kind == "none"
    with pytest.raises(ValueError, match="not a port"):
        probe_of({"readinessProbe": {"httpGet": {"port": "metrics"}}}, PORTS)


def test_a_pod_turns_ready_after_the_successes_and_unready_after_the_failures() -> None:
    probe = Probe("http", 80, period=5, success_threshold=2, failure_threshold=3)
    state = ProbeState()
    state.record(probe, True, now=0, quick=0.5)
    assert not state.ready
    assert state.due == 0.5  # probed again at the runner's pace until ready
    state.record(probe, True, now=0.5, quick=0.5)
    assert state.ready
    assert state.due == 5.5  # then every periodSeconds
    for now in (5.5, 10.5):
        state.record(probe, False, now=now, quick=0.5)
        assert state.ready
    state.record(probe, False, now=15.5, quick=0.5)
    assert not state.ready


def test_the_runner_stage_outweighs_the_base_one_for_its_namespaces_only() -> None:
    stage = runner_stage(["b", "a"])
    assert stage["spec"]["weight"] > 0
    selector = stage["spec"]["selector"]["matchExpressions"]
    assert {"key": ".metadata.namespace", "operator": "In", "values": ["a", "b"]} in selector
    assert stage["metadata"]["name"] == "hybridroute-pod-runner-a-b"
    assert "Ready" in stage["spec"]["next"]["statusTemplate"]
    everywhere = runner_stage(None)["spec"]["selector"]["matchExpressions"]
    assert all(e["key"] != ".metadata.namespace" for e in everywhere)
