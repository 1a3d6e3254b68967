"""The experiment's statistics on hand-made numbers: bootstrap CIs, paired differences, season shares."""

from __future__ import annotations

import numpy as np
import pytest

from arena.experiment_stats import all_pairs, bootstrap_ci, paired, season_shares


def test_bootstrap_ci_mean_and_interval_around_it():
    values = [0.2, 0.3, 0.4, 0.5, 0.6]
    ci = bootstrap_ci(values)
    assert ci.mean == pytest.approx(0.4) and ci.n == 5
    assert 0.2 <= ci.low < ci.mean < ci.high <= 0.6
    # the standard error of the mean is 0.158/sqrt(5) ~ 0.0707; a 95% interval is about +-1.96 of it
    assert ci.high - ci.low == pytest.approx(2 * 1.96 * np.std(values) / np.sqrt(5), rel=0.25)


def test_bootstrap_ci_is_reproducible_and_seeded():
    values = [0.1, 0.9, 0.4, 0.35, 0.7, 0.2]
    assert bootstrap_ci(values) == bootstrap_ci(values)
    assert bootstrap_ci(values, seed=1) != bootstrap_ci(values, seed=2)


def test_bootstrap_ci_of_constant_or_single_value_has_zero_width():
    assert bootstrap_ci([0.25, 0.25, 0.25]).model_dump() == {"mean": 0.25, "low": 0.25, "high": 0.25, "n": 3}
    assert bootstrap_ci([0.7]).model_dump() == {"mean": 0.7, "low": 0.7, "high": 0.7, "n": 1}
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_two_values_give_their_range():
    """Resampling two seasons yields means x1, (x1+x2)/2, x2; 2.5% and 97.5% quantiles are the extremes."""
    ci = bootstrap_ci([0.4, 0.6])
    assert (ci.low, ci.mean, ci.high) == pytest.approx((0.4, 0.5, 0.6))


def test_paired_difference_cancels_season_luck():
    """A beats B by exactly 0.05 in every season while the seasons themselves vary a lot: the paired interval
    is zero-width at +0.05 although the separate intervals overlap."""
    a = [0.30, 0.55, 0.20, 0.45]
    b = [x - 0.05 for x in a]
    c = paired("a", "b", a, b)
    assert (c.mean_diff, c.low, c.high) == pytest.approx((0.05, 0.05, 0.05))
    assert c.a_wins == 1.0 and c.seasons == 4
    sep_a, sep_b = bootstrap_ci(a), bootstrap_ci(b)
    assert sep_a.low < sep_b.high  # separately, the two could not be told apart


def test_paired_wins_fraction_counts_strict_wins():
    c = paired("a", "b", [0.6, 0.5, 0.4, 0.5], [0.4, 0.5, 0.6, 0.3])
    assert c.a_wins == 0.5  # 0.6>0.4 and 0.5>0.3; the tie is not a win
    assert c.mean_diff == pytest.approx(0.05)
    assert c.low <= c.mean_diff <= c.high
    with pytest.raises(ValueError):
        paired("a", "b", [0.1], [0.1, 0.2])


def test_all_pairs_in_policy_order_and_antisymmetric():
    shares = {"greedy": [0.5, 0.4], "random": [0.3, 0.35], "hold": [0.2, 0.25]}
    pairs = all_pairs(shares)
    assert [(p.a, p.b) for p in pairs] == [("greedy", "random"), ("greedy", "hold"), ("random", "hold")]
    back = paired("random", "greedy", shares["random"], shares["greedy"])
    assert back.mean_diff == pytest.approx(-pairs[0].mean_diff)


def test_season_shares_sum_to_one_and_empty_season_is_a_tie():
    shares = season_shares({"hold": 30.0, "random": 90.0})
    assert shares == pytest.approx({"hold": 0.25, "random": 0.75})
    assert sum(shares.values()) == pytest.approx(1.0)
    assert season_shares({"hold": 0.0, "random": 0.0}) == {"hold": 0.5, "random": 0.5}
