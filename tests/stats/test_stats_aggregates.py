"""pass@k (Chen et al. 2021) against the paper's formula and a brute-force count over subsets;
percentiles and ratios with bootstrap intervals that resample items, not trials."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pytest_crucible.errors import StatsError
from pytest_crucible.stats import pass_at_k, pass_at_k_ci, percentile_ci, ratio_ci


def brute_force(n: int, c: int, k: int) -> float:
    """The share of k-subsets of n attempts (the first c correct) holding a correct one."""
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(i < c for i in subset) for subset in subsets) / len(subsets)


def test_pass_at_k_hand_worked_values() -> None:
    # 1 - C(3, 2) / C(5, 2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7, abs=1e-15)
    # pass@1 is the share correct; no correct attempt gives 0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3, abs=1e-15)
    assert pass_at_k(5, 0, 3) == 0.0
    # fewer wrong attempts than k: every k-subset holds a correct one
    assert pass_at_k(5, 3, 3) == 1.0
    assert pass_at_k(4, 4, 4) == 1.0


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_equals_the_binomial_formula_and_a_count_over_subsets(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            formula = 1.0 if n - c < k else 1 - math.comb(n - c, k) / math.comb(n, k)
            assert pass_at_k(n, c, k) == pytest.approx(formula, abs=1e-12), (n, c, k)
            assert pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)


def test_pass_at_k_is_stable_for_many_attempts() -> None:
    # C(1000, 100) overflows a float; the product form does not
    expected = 1 - math.comb(990, 100) / math.comb(1000, 100)  # exact integers
    assert pass_at_k(1000, 10, 100) == pytest.approx(expected, rel=1e-12)


def test_pass_at_k_refuses_k_above_n_and_says_what_to_do() -> None:
    message = r"pass@5 needs at least 5 repeats per item; the item has 3"
    with pytest.raises(StatsError, match=message):
        pass_at_k(3, 1, 5)
    with pytest.raises(StatsError, match="k=0 must be at least 1"):
        pass_at_k(3, 1, 0)
    with pytest.raises(StatsError, match="c=4 correct must lie between 0 and n=3"):
        pass_at_k(3, 4, 1)


def test_pass_at_k_of_a_condition_is_the_mean_of_the_per_item_estimator() -> None:
    outcomes = [[1, 0, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 0], [0, 1, 0, 0, 0]]
    expected = np.mean([1 - math.comb(5 - sum(o), 3) / math.comb(5, 3) for o in outcomes])
    result = pass_at_k_ci(outcomes, 3)
    assert result.estimate == pytest.approx(expected, abs=1e-12)
    low, high = result.ci
    assert 0 <= low <= result.estimate <= high <= 1
    assert pass_at_k_ci(outcomes, 3) == result  # seeded: the same interval every time
    assert "bootstrap over 4 items" in result.notes[0]


def test_pass_at_k_ci_with_items_short_of_k_repeats_says_how_many() -> None:
    outcomes = [[1, 0, 1], [1], [0, 1], [1, 1, 0]]
    message = r"pass@3 needs at least 3 repeats per item; 2 of 4 items have fewer \(as few as 1\)"
    with pytest.raises(StatsError, match=message):
        pass_at_k_ci(outcomes, 3)
    with pytest.raises(StatsError, match=r"; 1 of 2 items has fewer \(as few as 2\)"):
        pass_at_k_ci([[1, 0, 1], [0, 1]], 3)
    with pytest.raises(StatsError, match="k=0 must be an integer of at least 1"):
        pass_at_k_ci(outcomes, 0)


def test_pass_at_k_ci_refuses_values_other_than_0_and_1() -> None:
    with pytest.raises(StatsError, match="other than 0 and 1"):
        pass_at_k_ci([[1, 0.5], [1, 0]], 1)


def test_percentile_is_of_every_trial_value_and_its_interval_resamples_items() -> None:
    rng = np.random.default_rng(3)
    values = [rng.exponential(size=4) for _ in range(30)]
    result = percentile_ci(values, 95)
    assert result.estimate == pytest.approx(np.percentile(np.concatenate(values), 95))
    assert result.ci[0] <= result.estimate <= result.ci[1]
    # resampling items: every resample holds whole items, so an item's 4 identical repeats
    # move together and the interval is wider than a bootstrap over 120 independent trials
    heavy = [np.full(4, v) for v in rng.exponential(size=30)]
    by_item = percentile_ci(heavy, 50)
    by_trial = percentile_ci([[v] for v in np.concatenate(heavy)], 50)
    assert by_item.estimate == pytest.approx(by_trial.estimate)
    assert by_item.ci[1] - by_item.ci[0] > by_trial.ci[1] - by_trial.ci[0]


def test_percentile_with_items_of_unequal_repeats() -> None:
    values = [[1.0, 2.0, 3.0], [4.0], [5.0, 6.0]]
    result = percentile_ci(values, 50)
    assert result.estimate == pytest.approx(3.5)
    assert result.ci[0] <= 3.5 <= result.ci[1]


def test_clusters_are_resampled_whole() -> None:
    values = [[1.0], [1.0], [9.0], [9.0]]
    result = percentile_ci(values, 50, clusters=["a", "a", "b", "b"])
    assert "bootstrap over 2 clusters" in result.notes[0]
    assert result.estimate == pytest.approx(5.0)


def test_ratio_of_sums_cost_per_correct() -> None:
    costs = [[0.1, 0.1], [0.2, 0.2], [0.3, 0.1]]
    correct = [[1, 0], [1, 1], [0, 0]]
    result = ratio_ci(costs, correct)
    assert result.estimate == pytest.approx(1.0 / 3)
    assert result.ci[0] <= result.estimate <= result.ci[1]


def test_one_item_gives_an_estimate_without_an_interval() -> None:
    result = percentile_ci([[1.0, 2.0, 3.0]], 50)
    assert result.estimate == pytest.approx(2.0)
    assert all(math.isnan(bound) for bound in result.ci)
    assert any("at least 2" in note for note in result.notes)


def test_a_ratio_over_many_items_gets_the_delta_interval_the_bootstrap_converges_to() -> None:
    # 2,000 items of skewed costs, 0-3 correct answers each: above RATIO_BOOTSTRAP_UNITS the
    # interval is the delta method's
    from pytest_crucible.stats import ratio_of_sums_ci
    from pytest_crucible.stats._aggregates import RATIO_BOOTSTRAP_UNITS, _delta_ratio

    rng = np.random.default_rng(7)
    n = 2_000
    assert n > RATIO_BOOTSTRAP_UNITS
    cost = rng.lognormal(mean=-7.0, sigma=1.0, size=n)
    hits = rng.integers(0, 4, size=n).astype(float)
    delta = ratio_of_sums_ci(cost, hits, n_resamples=999)
    assert delta.method == "delta" and delta.n_resamples == 0
    assert delta.estimate == pytest.approx(cost.sum() / hits.sum())
    assert "delta-method interval over 2000 items" in delta.notes[0]
    boot = ratio_ci([[c] for c in cost], [[h] for h in hits], n_resamples=999)
    assert boot.method == "delta"  # ratio_ci takes the same path from per-item values
    # below the threshold the bootstrap runs; on the same 400 items the delta interval (the
    # formula the large case uses) has a width within 15% of the bootstrap's
    small = ratio_of_sums_ci(cost[:400], hits[:400], n_resamples=4999, seed=3)
    small_delta = _delta_ratio(cost[:400], hits[:400], 0.95, "items")
    assert small.method == "percentile" and small_delta.method == "delta"
    assert small.estimate == pytest.approx(small_delta.estimate)
    width_boot = small.ci[1] - small.ci[0]
    width_delta = small_delta.ci[1] - small_delta.ci[0]
    assert width_delta == pytest.approx(width_boot, rel=0.15)
