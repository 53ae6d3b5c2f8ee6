"""The demo's numbers (pure): share to small, accuracy against both baselines, savings."""

from __future__ import annotations

import math

import pytest
from hybridroute_localstack.liveview import RouteState, plain_line
from hybridroute_localstack.summary import Price, Result, percentile, summarize

pytestmark = pytest.mark.unit

LARGE = Price(0.01, 0.03, 2800)
SMALL = Price(0.001, 0.003, 300)


def result(version: str, quality: float, small: bool, large: bool, status: int = 200) -> Result:
    return Result(
        0.0, 0.1 if version == "large" else 0.02, status, version, quality, small, large, 100, 10
    )


def test_savings_and_accuracy_against_both_baselines() -> None:
    results = [
        result("v3", 1.0, True, True),
        result("v3", 0.0, False, True),
        result("large", 1.0, False, True),
        result("large", 0.0, True, False),
        result("", 0.0, False, False, status=503),
    ]
    summary = summarize(results, LARGE, SMALL)
    assert summary.requests == 5
    assert summary.errors == 1
    assert summary.errors_by_status == {"503": 1}
    assert summary.small_share == 0.5
    assert summary.accuracy == {"delivered": 0.5, "all_large": 0.75, "all_small": 0.5}
    one_large, one_small = LARGE.cost(100, 10), SMALL.cost(100, 10)
    assert summary.cost_usd["all_large"] == pytest.approx(4 * one_large)
    assert summary.cost_usd["saved"] == pytest.approx(2 * (one_large - one_small))
    assert summary.energy_joules["saved_fraction"] == pytest.approx(0.5 * (1 - 300 / 2800))
    assert summary.latency_seconds["large"]["p99"] == 0.1


def test_the_recent_small_share_looks_only_at_the_last_window() -> None:
    old = Result(0.0, 0.1, 200, "large", 1.0, True, True, 10, 1)
    new = Result(100.0, 0.1, 200, "v3", 1.0, True, True, 10, 1)
    summary = summarize([old, old, new], LARGE, SMALL, now=110.0, window=30.0)
    assert summary.small_share == pytest.approx(1 / 3)
    assert summary.recent_small_share == 1.0


def test_no_answer_yet_is_not_a_division_by_zero() -> None:
    summary = summarize([result("", 0, False, False, status=0)], LARGE, SMALL)
    assert summary.errors == 1
    assert summary.accuracy == {}
    assert "small=0.0%" in plain_line(1.0, summary, RouteState())


def test_percentile_is_nearest_rank() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    assert math.isnan(percentile([], 50))


def test_route_state_prefers_the_adapted_threshold_and_shows_dashes_when_absent() -> None:
    assert RouteState.from_route(None) == RouteState()
    status = {"policy": {"threshold": 0.5, "canaryWeight": 10}}
    assert RouteState.from_route({"status": status}).threshold == "0.500"
    status["adaptation"] = {"effectiveThreshold": 0.62}
    status["canary"] = {"phase": "Progressing", "weight": 25}
    state = RouteState.from_route({"status": status})
    assert (state.threshold, state.canary_phase, state.canary_weight) == (
        "0.620",
        "Progressing",
        "25",
    )
