"""Shared fixtures: a real local Kubernetes control plane and a real Prometheus.

``control_plane`` (session): etcd + kube-apiserver; ``cluster`` (session): the same API
server plus kube-controller-manager, kube-scheduler and kwok with one Ready fake node,
started the first time a test asks for it; ``prometheus_server`` (function): a factory
``prometheus_server(targets, job="test")`` returning a started server with ``.url``.
When a test using any of them fails, each component's log tail is added to the report.
See docs/development.md.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from hybridroute_localstack import ControlPlane, PrometheusFactory
from hybridroute_localstack.reporting import log_sections


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver (RBAC, admission webhooks, TLS), torn down after the session."""
    plane = ControlPlane(tmp_path_factory.mktemp("control-plane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def cluster(control_plane: ControlPlane) -> ControlPlane:
    """The control plane plus controllers, scheduler and kwok: Deployments get Ready pods
    and owned objects are garbage-collected."""
    control_plane.start_workloads()
    return control_plane


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[PrometheusFactory]:
    factory = PrometheusFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, append the log tail of every local component the test used."""
    report = yield
    if report.failed:
        report.sections.extend(log_sections(getattr(item, "funcargs", {})))
    return report
