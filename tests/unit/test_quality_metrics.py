"""Routing metrics against hand-computed cases."""

import numpy as np
import pytest
from hybridroute_quality import metrics as mx

pytestmark = pytest.mark.unit

# Four queries. Gains (large - small): 0, +1, -1, +1. Keys order them 0, 1, 3, 2.
KEYS = np.array([0.9, 0.8, 0.1, 0.5])
SMALL = np.array([1.0, 0.0, 1.0, 0.0])
LARGE = np.array([1.0, 1.0, 0.0, 1.0])


def test_quality_curve_sends_highest_keys_to_large_first() -> None:
    curve = mx.quality_curve(KEYS, SMALL, LARGE)
    np.testing.assert_allclose(curve, [0.5, 0.5, 0.75, 1.0, 0.75])


def test_apgr_of_hand_computed_curve() -> None:
    curve = mx.quality_curve(KEYS, SMALL, LARGE)
    # trapezoid AUC = (0.5 + 0.625 + 0.875 + 0.875) / 4 = 0.71875; gap 0.25
    assert mx.apgr(curve, 0.5, 0.75) == pytest.approx(0.875)


def test_cpt_interpolates_between_operating_points() -> None:
    curve = mx.quality_curve(KEYS, SMALL, LARGE)
    assert mx.cpt(curve, 0.5, 0.75, 0.5) == pytest.approx(0.375)  # target 0.625
    assert mx.cpt(curve, 0.5, 0.75, 0.8) == pytest.approx(0.45)  # target 0.70


def test_cpt_is_one_when_the_target_is_never_reached() -> None:
    assert mx.cpt([0.5, 0.55, 0.6], 0.5, 0.6, 1.5) == 1.0


def test_constant_scores_are_exactly_the_random_router() -> None:
    curve = mx.quality_curve(np.zeros(4), SMALL, LARGE)
    np.testing.assert_allclose(curve, [0.5, 0.5625, 0.625, 0.6875, 0.75])
    summary = mx.summarize(curve, 0.5, 0.75)
    assert summary.apgr == pytest.approx(0.5)
    assert summary.cpt50 == pytest.approx(0.5)
    assert summary.cpt80 == pytest.approx(0.8)


def test_ties_share_their_values_evenly() -> None:
    out = mx.cumulative_top([1.0, 1.0, 0.0, 0.0], [1.0, -1.0, 0.0, 2.0])
    np.testing.assert_allclose(out, [0.0, 0.0, 0.0, 1.0, 2.0])


def test_apgr_rejects_models_of_equal_quality() -> None:
    with pytest.raises(ValueError, match="same quality"):
        mx.apgr([0.5, 0.5], 0.5, 0.5)


def test_prerouting_cost_replaces_small_calls_by_large_ones() -> None:
    total = mx.preroute_total(KEYS, np.ones(4), np.full(4, 10.0))
    np.testing.assert_allclose(total, [4, 13, 22, 31, 40])


def test_cascade_cost_counts_the_small_call_on_every_query() -> None:
    total = mx.cascade_total(KEYS, np.ones(4), np.full(4, 10.0))
    np.testing.assert_allclose(total, [4, 14, 24, 34, 44])


def test_composite_goes_large_at_its_entry_or_its_logprob_and_skips_prerouted_small_calls() -> None:
    logprob = np.array([-0.1, -2.0, -0.5, -0.01])
    entry = np.array([-3.0, np.inf, np.inf, -0.05])  # rows 0 and 3 are pre-routed early
    levels = mx.composite_levels(logprob, entry)
    np.testing.assert_allclose(levels, [-3.0, -2.0, -0.5, -0.05])
    assert list(np.argsort(-mx.cascade_keys(levels))) == [0, 1, 2, 3]
    total = mx.composite_total(levels, entry, np.ones(4), np.full(4, 10.0))
    # k=1: row 0 pre-routed (no small call); k=2: row 1 escalated (both calls); ...
    np.testing.assert_allclose(total, [4, 13, 23, 33, 42])
    # no entry: the pure cascade
    same = mx.composite_levels(logprob, np.full(4, np.inf))
    np.testing.assert_allclose(
        mx.composite_total(same, np.full(4, np.inf), np.ones(4), np.full(4, 10.0)),
        mx.cascade_total(mx.cascade_keys(logprob), np.ones(4), np.full(4, 10.0)),
    )


def test_call_cost_and_energy_use_per_1k_prices() -> None:
    prices = mx.Prices(input_per_1k=0.002, output_per_1k=0.004, joules_per_1k=500.0)
    assert mx.call_cost([1000], [500], prices)[0] == pytest.approx(0.004)
    assert mx.call_energy([1000], [500], prices)[0] == pytest.approx(750.0)


def test_value_at_share_reads_the_curve_linearly() -> None:
    assert mx.value_at_share([0.5, 0.7, 0.8], 0.25) == pytest.approx(0.6)


def test_expected_cost_threshold_is_one_minus_the_cost_ratio() -> None:
    assert mx.expected_cost_threshold(1.0, 10.0) == pytest.approx(0.9)
    # no prices configured: never pre-route (the pure cascade)
    assert mx.expected_cost_threshold(0.0, 0.0) == 1.0
