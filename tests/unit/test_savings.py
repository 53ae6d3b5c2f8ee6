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


T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"


def test_measured_values_are_reported_to_three_digits_with_window_and_time() -> None:
    out = section({"smallShare": 0.6123456789, "energySavedJoulesPerHour": 41234.5}, {}, "1h", T0)
    assert out == {
        "smallShare": 0.612,
        "energySavedJoulesPerHour": 41200.0,
        "window": "1h",
        "time": T0,
        "reason": "Measured",
    }


def test_a_reading_that_shows_the_same_keeps_the_time_of_the_last_change() -> None:
    first = section({"smallShare": 0.6123}, {}, "1h", T0)
    again = section({"smallShare": 0.61249}, {}, "1h", T1, previous=first)
    assert again == first  # equal section: the reconciler writes nothing


@pytest.mark.parametrize(
    ("values", "problems", "window"),
    [
        ({"smallShare": 0.6135}, {}, "1h"),  # the value as shown changed
        ({"smallShare": 0.6123}, {}, "30m"),  # another window
        ({}, {"smallShare": ("no_data", "no series (query: q)")}, "1h"),  # another reason
    ],
)
def test_a_reading_that_shows_something_else_gets_the_new_time(
    values: dict[str, float], problems: dict[str, tuple[str, str]], window: str
) -> None:
    first = section({"smallShare": 0.6123}, {}, "1h", T0)
    changed = section(values, problems, window, T1, previous=first)
    assert changed["time"] == T1
    assert changed != first


def test_a_previous_section_without_time_or_not_a_mapping_is_ignored() -> None:
    for previous in ({"smallShare": 0.612, "window": "1h", "reason": "Measured"}, "junk", None):
        out = section({"smallShare": 0.6123}, {}, "1h", T1, previous=previous)  # type: ignore[arg-type]
        assert out["time"] == T1


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
