"""Threshold calibration: target large share, target quality, policy snippet."""

import numpy as np
import pytest
import yaml
from hybridroute_policy import Policy
from hybridroute_quality import calibrate as cal

pytestmark = pytest.mark.unit


def test_threshold_for_a_target_large_share_sits_between_scores() -> None:
    result = cal.for_large_share(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), 0.4)
    assert result.threshold == pytest.approx(0.35)
    assert result.large_share == pytest.approx(0.4)


def test_zero_share_threshold_sends_nothing_to_large() -> None:
    result = cal.for_large_share(np.array([0.1, 0.9]), 0.0)
    assert result.large_share == 0.0
    assert result.threshold == 1.0


def test_threshold_for_a_target_quality_uses_the_fewest_large_calls() -> None:
    keys = np.array([0.9, 0.8, 0.1, 0.5])
    small = np.array([1.0, 0.0, 1.0, 0.0])
    large = np.array([1.0, 1.0, 0.0, 1.0])
    result = cal.for_quality(keys, small, large, 1.0)
    assert result.threshold == pytest.approx(0.65)
    assert result.large_share == pytest.approx(0.5)
    assert result.quality == pytest.approx(0.75)
    assert result.quality_vs_large == pytest.approx(1.0)


def test_tied_scores_move_together_so_the_target_is_still_met() -> None:
    keys = np.array([0.5, 0.5, 0.5, 0.1])
    small = np.array([0.0, 0.0, 1.0, 1.0])
    large = np.ones(4)
    result = cal.for_quality(keys, small, large, 0.75)
    assert result.quality is not None
    assert result.quality >= 0.75
    assert result.large_share == pytest.approx(0.75)


def test_bad_targets_are_rejected() -> None:
    with pytest.raises(ValueError, match="large share"):
        cal.for_large_share(np.array([0.1]), 1.5)
    with pytest.raises(ValueError, match="no scores"):
        cal.for_large_share(np.array([]), 0.5)


def test_snippet_is_a_valid_policy_fragment() -> None:
    result = cal.for_large_share(np.array([0.1, 0.2, 0.3, 0.4]), 0.5)
    text = cal.policy_snippet(result, "learned", source="test")
    fragment = yaml.safe_load(text)["policy"]
    policy = Policy.model_validate(
        {
            "large": {"upstream": {"baseUrl": "http://l:8000/v1", "model": "big"}},
            "small": {
                "versions": [
                    {"name": "v1", "upstream": {"baseUrl": "http://s:8000/v1", "model": "s"}}
                ]
            },
            **fragment,
        }
    )
    assert policy.complexity.threshold == pytest.approx(0.25)
    assert policy.complexity.scorer == "learned"
