"""The chart's Grafana dashboard: every panel's PromQL runs against the real Prometheus
(Debian package). Router queries return data from a running router that serves traffic;
operator queries return data from the running operator whose load adaptation and canary
loops work on a HybridRoute in the local control plane."""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hybridroute_localstack import ControlPlane, eventually
from operator_harness import OperatorProcess, apply, install_crd, models_for, route_manifest
from router_harness import FakeUpstream, fake_upstream, policy_doc, running_router

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "charts" / "hybridroute-operator" / "dashboards" / "hybridroute.json"
# What Grafana would put in for the variables: every namespace (the test's Prometheus adds
# none), the test route, a rate window a few scrape intervals (1 s) long.
VARIABLES = {"$namespace": ".*", "$route": "test", "$__rate_interval": "15s"}
SIMPLE = "What is the capital of France?"
HARD = (
    "Step by step, design a Python class that solves the equation x^2 + 3 * x = 10 and "
    "explain the trade-offs.\n```python\ndef solve(a, b):\n    return a\n```\n"
    "What is the complexity? Which edge cases fail? How would you test it?"
)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold their panels


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL with the variables filled in) for every panel target."""
    out = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            out.append((panel["title"], expr))
    return out


def run(prometheus: str, expr: str) -> tuple[bool, Any]:
    """(parsed, result vector or error text) of an instant query."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = response.json()
    if body.get("status") != "success":
        return False, body.get("error", response.text)
    return True, body["data"]["result"]


def has_data(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def first_value(prometheus: str, expr: str) -> dict[str, Any]:
    """The single sample of ``expr`` once it has a finite value (a ratio is NaN while its
    rate window holds no increase, e.g. no shadow comparison finished on a busy machine)."""

    def sample() -> dict[str, Any] | None:
        _, result = run(prometheus, expr)
        finite = [s for s in result if math.isfinite(float(s["value"][1]))]
        assert len(finite) <= 1, result
        return finite[0] if finite else None

    found: dict[str, Any] = eventually(sample, f"a value of {expr}", timeout=60, interval=0.5)
    return found


@pytest.fixture
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def test_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "route"} <= names
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
    titles = " ".join(p["title"] for p in panels(dashboard)).lower()
    for wanted in ("reason", "small share", "shadow agreement", "p50 / p99", "overhead"):
        assert wanted in titles
    for wanted in ("saved", "energy", "threshold", "canary phase", "canary weight"):
        assert wanted in titles


@pytest.fixture
def small() -> Iterator[tuple[FakeUpstream, str]]:
    with fake_upstream("small", "small answer here") as pair:
        yield pair


def traffic(url: str, stop: threading.Event) -> None:
    """Simple and hard prompts (small and large answers) until ``stop`` is set."""
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            for prompt in (SIMPLE, SIMPLE, HARD):
                client.post(
                    "/v1/chat/completions",
                    json={"model": "hybrid", "messages": [{"role": "user", "content": prompt}]},
                )
            stop.wait(0.05)


def test_every_panel_query_runs_against_prometheus_scraping_a_busy_router(
    tmp_path: Path, large: Any, small: Any, prometheus_server: Any, dashboard: dict[str, Any]
) -> None:
    doc = policy_doc(large[1], {"v1": small[1]}, shadow={"percent": 100})
    stop = threading.Event()
    with running_router(doc, tmp_path) as router:
        sender = threading.Thread(target=traffic, args=(router.url, stop), daemon=True)
        sender.start()
        try:
            prom = prometheus_server([f"127.0.0.1:{router.server.port}"], job="router")
            router_queries = []
            for title, expr in queries(dashboard):
                parsed, result = run(prom.url, expr)
                assert parsed, f"{title}: {expr}: {result}"
                if "hybridroute_operator_" not in expr:
                    router_queries.append((title, expr))

            for title, expr in router_queries:

                def answered(expr: str = expr) -> bool:
                    parsed, result = run(prom.url, expr)
                    return parsed and has_data(result)

                eventually(answered, f"data for {title!r}: {expr}", timeout=90, interval=0.5)
            exprs = dict(router_queries)
            share = first_value(prom.url, exprs["Small share"])
            agreement = first_value(prom.url, exprs["Shadow agreement per version"])
        finally:
            stop.set()
            sender.join(timeout=15)
    assert len(router_queries) >= 12
    # two simple prompts (small) for each hard one (large); the answers always differ
    assert 0.3 < float(share["value"][1]) < 0.95
    assert agreement["metric"] == {"version": "v1"}
    assert float(agreement["value"][1]) == 0.0


def test_a_broken_panel_query_is_caught(prometheus_server: Any, dashboard: dict[str, Any]) -> None:
    prom = prometheus_server(["127.0.0.1:9"], job="nothing")
    _, expr = queries(dashboard)[0]
    parsed, error = run(prom.url, expr.replace("sum by (reason) (", "sum by (reason) ((", 1))
    assert not parsed
    assert "parse error" in error


def test_every_operator_panel_query_returns_data_from_a_running_operator(
    cluster: ControlPlane, tmp_path: Path, prometheus_server: Any, dashboard: dict[str, Any]
) -> None:
    """The operator's loops on a route with load adaptation (a cost budget) and a canary:
    its gauges and query counters reach Prometheus under the labels the panels use."""
    namespace = f"dash-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    install_crd(cluster)
    proc = OperatorProcess(cluster, namespace, tmp_path).start()
    try:
        prom = prometheus_server([f"127.0.0.1:{proc.metrics_port}"], job="operator")
        route = route_manifest("test", app="dash")
        where = {"url": prom.url, "timeoutSeconds": 2}
        route["spec"]["adaptation"] = {
            "prometheus": where,
            "interval": "2s",
            "budget": {"maxCostPerHour": 5},
        }
        route["spec"]["canary"] = {"prometheus": where, "interval": "2s", "stepWeights": [10, 50]}
        apply(cluster, namespace, *models_for("dash"), route)
        operator_queries = [(t, e) for t, e in queries(dashboard) if "hybridroute_operator_" in e]
        for title, expr in operator_queries:

            def answered(expr: str = expr) -> bool:
                parsed, result = run(prom.url, expr)
                return parsed and has_data(result)

            eventually(answered, f"data for {title!r}: {expr}", timeout=90, interval=0.5)
    finally:
        code = proc.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
    assert code == 0
    assert len(operator_queries) >= 8
