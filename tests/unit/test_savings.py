"""status.savings (pure): measured values, or why they are missing; never a made-up
number."""

from __future__ import annotations

from typing import Any

import pytest
from hybridroute_operator.api.spec import parse_spec
from hybridroute_operator.savings import queries, section, settings_for

pytestmark = pytest.mark.unit
BASE: dict[str, Any] = {
    "large": {"model": "l", "endpoint": {"url": "http://large.example/v1"}},
    "small": {"model": "s", "versions": [{"name": "v1", "endpoint": {"url": "http://s/v1"}}]},
}


def test_without_adaptation_savings_use_the_default_prometheus_over_an_hour() -> None:
    s = settings_for(parse_spec(BASE))
    assert (s.prometheus, s.namespace_label, s.window, s.interval) == (None, "namespace", "1h", 60)
    q = queries(s, "support", "llm")
    assert (
        'hybridroute_requests_total{namespace="llm",route="support",model="small"}[1h]'
        in (q["smallShare"])
    )
    assert q["costSavedPerHour"].endswith(") * 3600")


def test_with_adaptation_savings_follow_its_prometheus_window_and_interval() -> None:
    spec = parse_spec(
        {
            **BASE,
            "adaptation": {
                "prometheus": {"url": "http://prom:9090"},
                "interval": "5s",
                "window": "30s",
                "namespaceLabel": "",
                "signals": {"queueDepth": {"target": 4}},
            },
        }
    )
    s = settings_for(spec)
    assert s.prometheus is not None
    assert (s.prometheus.url, s.window, s.interval) == ("http://prom:9090", "30s", 5)
    assert "namespace" not in queries(s, "r", "n")["energySavedJoulesPerHour"]


def test_measured_values_are_reported_with_window_and_time() -> None:
    out = section({"smallShare": 0.6123456789}, {}, "1h", "2026-01-01T00:00:00Z")
    assert out == {
        "smallShare": 0.612346,
        "window": "1h",
        "time": "2026-01-01T00:00:00Z",
        "reason": "Measured",
    }


@pytest.mark.parametrize(
    ("problems", "reason"),
    [
        ({"smallShare": ("config", "no Prometheus: set ...")}, "PrometheusNotConfigured"),
        (
            {"smallShare": ("unreachable", "refused"), "x": ("no_data", "q")},
            "PrometheusUnreachable",
        ),
        ({"smallShare": ("no_data", "no series (query: q)")}, "NoTraffic"),
        ({"smallShare": ("error", "bad_data (query: q)")}, "QueryFailed"),
    ],
)
def test_missing_values_are_left_out_with_a_reason(
    problems: dict[str, tuple[str, str]], reason: str
) -> None:
    out = section({}, problems, "1h", "2026-01-01T00:00:00Z")
    assert out["reason"] == reason
    assert "smallShare" not in out
    assert out["message"]
