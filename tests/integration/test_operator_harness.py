"""The operator harness survives a port taken between picking it and binding it (other
test processes share the box)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import operator_harness
import pytest
from hybridroute_localstack import ControlPlane
from hybridroute_localstack.probe import free_port
from operator_harness import OperatorProcess, metric_value

pytestmark = pytest.mark.integration


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_operator_restarts_on_another_port_when_its_metrics_port_was_taken(
    cluster: ControlPlane, tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks = iter([taken_port])
    monkeypatch.setattr(operator_harness, "free_port", lambda: next(picks, None) or free_port())
    namespace = "default"
    proc = OperatorProcess(cluster, namespace, tmp_path).start()
    try:
        assert proc.metrics_port != taken_port
        assert metric_value(proc.metrics(), "hybridroute_operator_routes") is not None
    finally:
        assert proc.stop() == 0
