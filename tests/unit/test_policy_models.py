from pathlib import Path

import pytest
from hybridroute_policy import Policy, PolicyError, dump_policy, load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "01-router-policy" / "policy.yaml"

pytestmark = pytest.mark.unit


def test_example_policy_loads_and_round_trips() -> None:
    policy = load_policy(EXAMPLE)
    again = parse_policy(dump_policy(policy))
    assert again == policy
    assert [v.name for v in policy.small.versions] == ["v3", "v4"]


def _minimal(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "large": {"upstream": {"baseUrl": "http://l:8000/v1", "model": "big"}},
        "small": {
            "versions": [
                {"name": "v1", "upstream": {"baseUrl": "http://s:8000/v1", "model": "s"}}
            ]
        },
    }
    base.update(over)
    return base


def test_weights_must_sum_to_100() -> None:
    raw = _minimal(
        small={
            "versions": [
                {"name": "a", "weight": 60, "upstream": {"baseUrl": "http://a/v1", "model": "a"}},
                {"name": "b", "weight": 30, "upstream": {"baseUrl": "http://b/v1", "model": "b"}},
            ]
        }
    )
    with pytest.raises(ValueError, match="sum to 100, got 90"):
        Policy.model_validate(raw)


def test_unknown_field_is_rejected_with_its_path() -> None:
    with pytest.raises(PolicyError, match=r"complexity\.treshold"):
        parse_policy(
            "large: {upstream: {baseUrl: 'http://l/v1', model: m}}\n"
            "small: {versions: [{name: v1, upstream: {baseUrl: 'http://s/v1', model: s}}]}\n"
            "complexity: {treshold: 0.3}\n"
        )


def test_api_key_needs_exactly_one_source() -> None:
    raw = _minimal(large={"upstream": {"baseUrl": "http://l/v1", "model": "m", "apiKey": {}}})
    with pytest.raises(ValueError, match="exactly one"):
        Policy.model_validate(raw)


def test_not_yaml_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("large: [unclosed")
