"""Validity by simulation: false-positive rates near alpha, power near the textbook test.

Each scenario runs SIMULATIONS seeded experiments (deterministic), so a rate is judged against
its Monte Carlo error: 3 standard errors of a binomial proportion at that many runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from pytest_crucible import stats

ALPHA = 0.05
SIMULATIONS = 400
MC_TOLERANCE = 3 * math.sqrt(ALPHA * (1 - ALPHA) / SIMULATIONS)  # about 0.033


def rejection_rate(p_values: list[float]) -> float:
    return float(np.mean(np.asarray(p_values) < ALPHA))


def test_paired_binary_false_positive_rate() -> None:
    # 200 items of varying difficulty; both conditions share each item's success probability.
    rng = np.random.default_rng(11)
    p_values = []
    for _ in range(SIMULATIONS):
        p = rng.beta(2, 2, size=200)
        a, b = (rng.random(200) < p).astype(float), (rng.random(200) < p).astype(float)
        result = stats.compare(a, b, paired=True)
        p_values.append(result.p_value)
    assert result.test == "mcnemar"
    rate = rejection_rate(p_values)
    # McNemar's exact test is conservative (discrete): at or somewhat below alpha
    assert 0.01 <= rate <= ALPHA + MC_TOLERANCE, rate


def _repeats_experiment(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """100 items x 5 repeats of 0/1 outcomes; each condition has its own per-item accuracy
    (item x condition interaction) but the same accuracy on average: no true difference."""
    difficulty = rng.normal(0, 1.5, size=(100, 1))
    p_a = special.expit(difficulty + rng.normal(0, 1, size=(100, 1)))
    p_b = special.expit(difficulty + rng.normal(0, 1, size=(100, 1)))
    a = (rng.random((100, 5)) < p_a).astype(float)
    b = (rng.random((100, 5)) < p_b).astype(float)
    return a, b


def test_repeats_averaged_within_items_keep_alpha() -> None:
    rng = np.random.default_rng(12)
    averaged, flattened = [], []
    for _ in range(SIMULATIONS):
        a, b = _repeats_experiment(rng)
        averaged.append(stats.compare(a, b, paired=True).p_value)
        flattened.append(stats.compare(a.ravel(), b.ravel(), paired=True).p_value)
    rate = rejection_rate(averaged)
    assert abs(rate - ALPHA) <= MC_TOLERANCE, rate
    # treating 500 repeats as 500 independent items overstates the evidence
    assert rejection_rate(flattened) >= 1.6 * ALPHA


def _clustered_experiment(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """50 clusters x 10 items of 0/1 outcomes; each condition does better on some clusters
    (a cluster x condition effect), but neither is better on average."""
    clusters = np.repeat(np.arange(50), 10)
    difficulty = rng.normal(0, 1, size=500)
    p_a = special.expit(difficulty + rng.normal(0, 1.2, size=50)[clusters])
    p_b = special.expit(difficulty + rng.normal(0, 1.2, size=50)[clusters])
    a = (rng.random(500) < p_a).astype(float)
    b = (rng.random(500) < p_b).astype(float)
    return a, b, clusters


def test_clustered_items_keep_alpha_and_ignoring_clusters_inflates_it() -> None:
    rng = np.random.default_rng(13)
    aware, ignoring = [], []
    for _ in range(SIMULATIONS):
        a, b, clusters = _clustered_experiment(rng)
        result = stats.compare(a, b, paired=True, clusters=clusters)
        aware.append(result.p_value)
        ignoring.append(stats.compare(a, b, paired=True).p_value)
    assert result.test == "paired_t"
    assert result.n_clusters == 50
    rate = rejection_rate(aware)
    assert abs(rate - ALPHA) <= MC_TOLERANCE, rate
    assert rejection_rate(ignoring) >= 4 * ALPHA, rejection_rate(ignoring)


def test_cluster_permutation_and_bootstrap_keep_alpha() -> None:
    rng = np.random.default_rng(14)
    flips, boots = [], []
    for _ in range(SIMULATIONS // 2):
        a, b, clusters = _clustered_experiment(rng)
        flips.append(
            stats.compare(a, b, True, "permutation", clusters=clusters, n_resamples=999).p_value
        )
        boots.append(
            stats.compare(a, b, True, "bootstrap", clusters=clusters, n_resamples=999).p_value
        )
    tolerance = 3 * math.sqrt(ALPHA * (1 - ALPHA) / (SIMULATIONS // 2))
    assert abs(rejection_rate(flips) - ALPHA) <= tolerance
    assert abs(rejection_rate(boots) - ALPHA) <= tolerance


def test_power_of_auto_is_close_to_the_paired_t_test() -> None:
    # 30 items, a true paired effect d_z = 0.5: the textbook paired t-test has power 0.754
    rng = np.random.default_rng(15)
    p_values = []
    for _ in range(SIMULATIONS):
        base = rng.normal(0, 1, size=30)
        p_values.append(stats.compare(base + rng.normal(0.5, 1, size=30), base, True).p_value)
    expected = stats.power(0.5, 30, paired=True).power
    assert expected == pytest.approx(0.754, abs=0.001)
    tolerance = 3 * math.sqrt(expected * (1 - expected) / SIMULATIONS)
    assert abs(rejection_rate(p_values) - expected) <= tolerance


def test_mean_ci_covers_at_the_nominal_rate_with_clusters() -> None:
    rng = np.random.default_rng(16)
    clusters = np.repeat(np.arange(40), 5)
    covered = 0
    for _ in range(SIMULATIONS):
        scores = rng.normal(0, 1, size=40)[clusters] + rng.normal(0, 1, size=200)
        low, high = stats.mean_ci(scores, clusters=clusters).ci
        covered += low <= 0 <= high
    assert abs(covered / SIMULATIONS - 0.95) <= MC_TOLERANCE


@pytest.mark.parametrize(("n_items", "repeats", "mean"), [(4, 3, 0.6), (10, 3, 0.15), (30, 3, 0.6)])
def test_mean_proportion_ci_covers_at_least_nominally_at_small_n(
    n_items: int, repeats: int, mean: float
) -> None:
    # items differ in difficulty (beta-distributed success rates), each tried `repeats` times
    rng = np.random.default_rng(n_items)
    covered = 0
    for _ in range(SIMULATIONS):
        rates = rng.beta(mean * 4, (1 - mean) * 4, size=n_items)
        outcomes = rng.random((n_items, repeats)) < rates[:, None]
        low, high = stats.mean_proportion_ci(outcomes.astype(float)).ci
        assert 0 <= low <= high <= 1
        covered += low <= mean <= high
    assert covered / SIMULATIONS >= 0.95 - MC_TOLERANCE
