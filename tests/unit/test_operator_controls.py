"""The loops' decisions in status -> the spec in force (pure): what reaches the policy."""

from __future__ import annotations

from typing import Any

import pytest
from hybridroute_operator.api.spec import HybridRouteSpec, parse_spec
from hybridroute_operator.controls import Controls, controls_from_status, effective_spec

pytestmark = pytest.mark.unit


def spec(**extra: Any) -> HybridRouteSpec:
    raw: dict[str, Any] = {
        "large": {"model": "big", "endpoint": {"service": "big", "port": 8000}},
        "small": {
            "model": "student",
            "versions": [
                {"name": "v1", "weight": 100, "endpoint": {"service": "s1", "port": 8000}},
                {"name": "v2", "weight": 0, "endpoint": {"service": "s2", "port": 8000}},
            ],
        },
        "policy": {"complexity": {"threshold": 0.5}},
    }
    raw.update(extra)
    return parse_spec(raw)


def test_without_loops_enabled_status_changes_nothing() -> None:
    s = spec()
    status = {"adaptation": {"effectiveThreshold": 0.9}, "canary": {"weights": {"v2": 100}}}
    controls = controls_from_status(s, status)
    assert controls == Controls()
    assert effective_spec(s, controls) is s


def test_effective_threshold_and_weights_replace_the_specs() -> None:
    s = spec()
    controls = Controls(threshold=0.7, weights={"v1": 75, "v2": 25})
    out = effective_spec(s, controls)
    assert out.policy.complexity.threshold == 0.7
    assert [(v.name, v.weight) for v in out.small.versions] == [("v1", 75), ("v2", 25)]
    assert s.policy.complexity.threshold == 0.5  # the spec as written is untouched


def test_discovered_versions_join_with_no_traffic_unless_weighted() -> None:
    s = spec()
    found = Controls(
        discovered=tuple(
            s.small.versions[0].model_copy(update={"name": "v5", "weight": 0}) for _ in [0]
        )
    )
    out = effective_spec(s, found)
    assert [(v.name, v.weight) for v in out.small.versions] == [("v1", 100), ("v2", 0), ("v5", 0)]
