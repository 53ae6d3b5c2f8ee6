"""spec.canary and spec.small.discovery: defaults, and contradictions the operator rejects
with the same message as the CRD's CEL rules (tests/integration/test_canary_crd.py)."""

from __future__ import annotations

from typing import Any

import pytest
from hybridroute_operator.api.spec import (
    AGREEMENT_BOUND,
    CUSTOM_BOUND,
    CUSTOM_MIN_LE_MAX,
    CUSTOM_NAMES_UNIQUE,
    LATENCY_BOUND,
    STEPS_INCREASING,
    SpecError,
    duration_seconds,
    parse_spec,
)

pytestmark = pytest.mark.unit


def spec(canary: dict[str, Any] | None = None, **small: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "large": {"model": "big", "endpoint": {"service": "big", "port": 8000}},
        "small": {
            "model": "student",
            "versions": [
                {
                    "name": "v1",
                    "endpoint": {"selector": {"app": "s", "version": "v1"}, "port": 8000},
                }
            ],
            **small,
        },
    }
    if canary is not None:
        doc["canary"] = canary
    return doc


def test_an_empty_canary_section_gets_flagger_like_defaults() -> None:
    canary = parse_spec(spec({})).canary
    assert canary is not None
    assert canary.step_weights == [5, 10, 25, 50]
    assert (canary.interval, canary.min_requests, canary.failure_limit) == ("1m", 50, 3)
    assert canary.inconclusive_limit is None
    checks = canary.checks
    assert checks.shadow_agreement is not None
    # relative to stable: how often a student agrees with the large model is the task's
    assert checks.shadow_agreement.min is None
    assert checks.shadow_agreement.min_ratio_to_stable == 0.9
    assert checks.shadow_agreement.confidence == 0.95
    assert checks.error_rate is not None
    assert checks.error_rate.max == 0.05
    assert checks.p99_latency is None
    assert checks.escalation_rate is None
    assert checks.feedback_score is None


def test_no_canary_section_means_no_canary() -> None:
    assert parse_spec(spec()).canary is None


@pytest.mark.parametrize("steps", [[10, 5], [5, 5, 10], [50, 25]])
def test_steps_that_do_not_increase_are_rejected(steps: list[int]) -> None:
    with pytest.raises(SpecError, match="strictly increasing"):
        parse_spec(spec({"stepWeights": steps}))
    assert "strictly increasing" in STEPS_INCREASING


@pytest.mark.parametrize("steps", [[5, 101], [0, 10], []])
def test_steps_out_of_range_or_empty_are_rejected(steps: list[int]) -> None:
    with pytest.raises(SpecError, match=r"spec\.canary\.stepWeights"):
        parse_spec(spec({"stepWeights": steps}))


def test_a_single_step_of_100_is_allowed() -> None:
    canary = parse_spec(spec({"stepWeights": [100]})).canary
    assert canary is not None
    assert canary.step_weights == [100]


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ({"p99Latency": {}}, LATENCY_BOUND),
        ({"shadowAgreement": {"minComparisons": 20}}, AGREEMENT_BOUND),
        ({"custom": [{"name": "x", "query": "vector(1)"}]}, CUSTOM_BOUND),
        ({"custom": [{"name": "x", "query": "vector(1)", "min": 2, "max": 1}]}, CUSTOM_MIN_LE_MAX),
        (
            {
                "custom": [
                    {"name": "x", "query": "vector(1)", "min": 1},
                    {"name": "x", "query": "vector(2)", "max": 1},
                ]
            },
            CUSTOM_NAMES_UNIQUE,
        ),
    ],
)
def test_contradictory_checks_are_rejected_with_a_readable_message(
    checks: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError) as raised:
        parse_spec(spec({"checks": checks}))
    assert message in str(raised.value)


def test_checks_can_be_switched_off_and_marked_dry_run() -> None:
    canary = parse_spec(
        spec({"checks": {"shadowAgreement": None, "errorRate": {"max": 0.1, "dryRun": True}}})
    ).canary
    assert canary is not None
    assert canary.checks.shadow_agreement is None
    assert canary.checks.error_rate is not None
    assert canary.checks.error_rate.dry_run


def test_discovery_is_parsed_and_hand_listed_versions_still_work() -> None:
    parsed = parse_spec(spec({}, discovery={"selector": {"app": "student"}, "port": 8000})).small
    assert parsed.discovery is not None
    assert parsed.discovery.version_label == "version"
    assert [v.name for v in parsed.versions] == ["v1"]


@pytest.mark.parametrize(("text", "seconds"), [("2s", 2.0), ("5m", 300.0), ("1h", 3600.0)])
def test_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


def test_a_bad_interval_is_rejected() -> None:
    with pytest.raises(SpecError, match=r"spec\.canary\.interval"):
        parse_spec(spec({"interval": "soon"}))
