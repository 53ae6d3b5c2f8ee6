"""Which defaults fill in what a policy leaves out: an operator's ConfigMap names them in
its ``policy-defaults`` marker, one without the marker (an operator of before the default
scorer became ``auto``) is read with the defaults of then, a standalone file with today's."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hybridroute_policy import (
    CURRENT_DEFAULTS,
    PolicyError,
    configmap_defaults,
    describe_defaults,
    fill_defaults,
    parse_policy,
)
from hybridroute_router.policy_source.reloader import PolicyDocument, read_policy

pytestmark = pytest.mark.unit

BASE: dict[str, Any] = {
    "large": {"upstream": {"baseUrl": "http://large:8000/v1", "model": "big"}},
    "small": {
        "versions": [{"name": "v1", "upstream": {"baseUrl": "http://s:8000/v1", "model": "s"}}]
    },
}


def text(**extra: Any) -> str:
    return yaml.safe_dump({**BASE, **extra})


def scorer(doc: str, marker: str | None, *, from_configmap: bool = True) -> str:
    policy, _ = read_policy(PolicyDocument(doc, marker), source="t", from_configmap=from_configmap)
    return str(policy.complexity.scorer)


def test_an_unmarked_configmap_without_scorer_keeps_the_heuristic() -> None:
    """What an operator of before the change wrote for a route at its default, heuristic."""
    assert scorer(text(), None) == "heuristic"
    assert scorer(text(complexity={"threshold": 0.3}), None) == "heuristic"
    policy, defaults = read_policy(PolicyDocument(text(), None), source="t", from_configmap=True)
    assert defaults == 1
    assert policy.complexity.threshold == 0.5  # nothing else changed


@pytest.mark.parametrize("named", ["auto", "learned", "heuristic", "similarity"])
def test_an_unmarked_configmap_keeps_the_scorer_it_names(named: str) -> None:
    assert scorer(text(complexity={"scorer": named}), None) == named


def test_a_marked_configmap_without_scorer_takes_todays_default() -> None:
    assert scorer(text(), "2") == "auto"
    assert scorer(text(), "2\n") == "auto"  # as a mounted file may end
    assert scorer(text(complexity={"scorer": "heuristic"}), "2") == "heuristic"


def test_a_standalone_policy_file_takes_todays_defaults_whatever_is_beside_it() -> None:
    assert scorer(text(), None, from_configmap=False) == "auto"
    assert scorer(text(), "1", from_configmap=False) == "auto"
    assert parse_policy(text()).complexity.scorer == "auto"


def test_a_marker_newer_than_the_router_reads_with_its_newest_defaults() -> None:
    assert configmap_defaults("3") == 3
    assert scorer(text(), "3") == "auto"
    assert "newer than this router's 2" in describe_defaults(3)


@pytest.mark.parametrize("marker", ["", "two", "0", "-1", "1.5", "²"])
def test_a_marker_that_is_not_a_positive_whole_number_is_refused(marker: str) -> None:
    with pytest.raises(PolicyError, match="t: policy-defaults must be a positive whole number"):
        read_policy(PolicyDocument(text(), marker), source="t", from_configmap=True)


def test_fill_defaults_leaves_its_input_alone_and_fills_only_what_is_missing() -> None:
    raw: dict[str, Any] = {"complexity": {"threshold": 0.3}, "route": "r"}
    filled = fill_defaults(raw, 1)
    assert filled == {"complexity": {"threshold": 0.3, "scorer": "heuristic"}, "route": "r"}
    assert raw == {"complexity": {"threshold": 0.3}, "route": "r"}
    assert fill_defaults(raw, CURRENT_DEFAULTS) == raw
    assert fill_defaults({"complexity": "odd"}, 1) == {"complexity": "odd"}  # schema says why


def test_the_defaults_applied_are_named_for_the_logs() -> None:
    assert describe_defaults(1) == "1 (complexity.scorer: heuristic when unset)"
    assert describe_defaults(2) == "2"
