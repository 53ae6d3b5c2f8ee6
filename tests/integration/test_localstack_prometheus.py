"""The Prometheus fixture runs the real server: it scrapes a real HTTP target on
loopback that serves prometheus-client metrics and answers PromQL about them."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hybridroute_localstack import PrometheusFactory, PrometheusServer, eventually
from hybridroute_localstack import prometheus as prometheus_module
from hybridroute_localstack.probe import free_port
from prometheus_client import CollectorRegistry, Counter, start_http_server

pytestmark = pytest.mark.integration


@pytest.fixture
def metrics_target() -> Iterator[tuple[str, Counter]]:
    registry = CollectorRegistry()
    counter = Counter(
        "harness_requests", "Requests seen by the test target", ["route"], registry=registry
    )
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_port}", counter
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_prometheus_scrapes_a_loopback_target_and_answers_promql(
    prometheus_server: PrometheusFactory, metrics_target: tuple[str, Counter]
) -> None:
    target, counter = metrics_target
    counter.labels(route="small").inc(7)
    counter.labels(route="large").inc(2)
    prometheus = prometheus_server([target], job="harness")
    assert prometheus.url.startswith("http://127.0.0.1:")

    def total() -> float | None:
        result = prometheus.query('sum(harness_requests_total{job="harness"})')
        return float(result[0]["value"][1]) if result else None

    assert eventually(total, "scraped", timeout=30) == 9.0
    up = prometheus.query('up{job="harness"}')
    assert [sample["value"][1] for sample in up] == ["1"]

    counter.labels(route="small").inc(5)
    eventually(lambda: total() == 14.0, "re-scraped with the new count", timeout=30)
    by_route = {
        s["metric"]["route"]: float(s["value"][1])
        for s in prometheus.query('harness_requests_total{job="harness"}')
    }
    assert by_route == {"small": 12.0, "large": 2.0}


def test_prometheus_reports_a_target_that_is_down(prometheus_server: PrometheusFactory) -> None:
    prometheus = prometheus_server([f"127.0.0.1:{free_port()}"], job="gone")

    def up_value() -> str | None:
        result = prometheus.query('up{job="gone"}')
        return str(result[0]["value"][1]) if result else None

    assert eventually(up_value, "scraped once", timeout=30) == "0"


def test_prometheus_moves_to_another_port_when_its_port_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, free_port()])
        monkeypatch.setattr(prometheus_module, "free_port", lambda: next(ports))
        server = PrometheusServer(tmp_path, ["127.0.0.1:9"], job="moved").start()
        try:
            assert server.url != f"http://127.0.0.1:{taken}"
            assert server.query("vector(1)")[0]["value"][1] == "1"
            assert "address already in use" in (tmp_path / "prometheus.log").read_text()
        finally:
            server.stop()
