"""Invariants that must hold for any data (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from pytest_crucible import stats

values = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
samples = st.lists(values, min_size=2, max_size=40)
pairs = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(values, min_size=n, max_size=n), st.lists(values, min_size=n, max_size=n)
    )
)
p_lists = st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=30)


@given(samples)
def test_singleton_clusters_give_the_plain_standard_error(xs: list[float]) -> None:
    plain = stats.mean_ci(xs)
    clustered = stats.mean_ci(xs, clusters=list(range(len(xs))))
    assert clustered.n_clusters == len(xs)
    assert math.isclose(clustered.se, plain.se, rel_tol=1e-9, abs_tol=1e-12)
    assert clustered.df == plain.df


@given(pairs)
def test_paired_se_is_the_se_behind_scipy_ttest_rel(data: tuple[list[float], list[float]]) -> None:
    a, b = data
    result = stats.compare(a, b, paired=True, test="paired_t")
    reference = sps.ttest_rel(a, b)
    if math.isfinite(reference.statistic) and abs(reference.statistic) > 1e-8:
        implied_se = float(np.mean(np.subtract(a, b))) / float(reference.statistic)
        # differences near 1e-160 square below the smallest normal float: both SEs are then
        # rounding noise, so below 1e-100 they need only agree absolutely
        assert math.isclose(result.se, implied_se, rel_tol=1e-7, abs_tol=1e-100)
        if result.method == "paired t":  # not the sign-test fallback for constant differences
            assert math.isclose(result.p_value, reference.pvalue, rel_tol=1e-7, abs_tol=1e-12)


@settings(max_examples=200)
@given(p_lists, st.sampled_from(["holm", "bonferroni", "bh"]))
def test_adjusted_p_values_are_monotone_and_within_bounds(ps: list[float], method: str) -> None:
    result = stats.adjust(ps, method)
    order = np.argsort(ps, kind="stable")
    adjusted = np.asarray(result.adjusted)[order]
    assert np.all(np.diff(adjusted) >= -1e-12)
    assert np.all((adjusted >= 0) & (adjusted <= 1))
    assert np.all(np.asarray(result.adjusted) >= np.asarray(ps) - 1e-12)


@given(pairs)
def test_swapping_a_and_b_negates_the_estimate(data: tuple[list[float], list[float]]) -> None:
    a, b = data
    forward = stats.compare(a, b, paired=True)
    backward = stats.compare(b, a, paired=True)
    assert math.isclose(forward.estimate, -backward.estimate, abs_tol=1e-9)
    assert forward.test == backward.test
    if math.isfinite(forward.p_value):
        assert math.isclose(forward.p_value, backward.p_value, rel_tol=1e-7, abs_tol=1e-12)


@given(pairs)
def test_compare_always_returns_a_defined_result(data: tuple[list[float], list[float]]) -> None:
    a, b = data
    for test in ("auto", "wilcoxon", "permutation"):
        result = stats.compare(a, b, paired=True, test=test, n_resamples=99)
        assert math.isfinite(result.p_value) or result.notes
        assert 0 <= result.p_value <= 1 or math.isnan(result.p_value)


shares = st.lists(
    st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=5), min_size=1, max_size=30
)


@settings(deadline=None)  # no timing in a test: the machine may be busy
@given(shares, st.sampled_from([0.5, 0.8, 0.95, 0.99]))
def test_a_proportion_interval_stays_inside_0_and_1(items: list[list[float]], level: float) -> None:
    values = [sum(item) / len(item) for item in items]
    trials = sum(len(item) for item in items)
    result = stats.mean_proportion_ci(values, n_trials=trials, level=level)
    low, high = result.ci
    if len(items) < 2:
        assert math.isnan(low) and math.isnan(high)
        assert any("too few" in note for note in result.notes)
    else:
        assert 0 <= low <= result.mean <= high <= 1
    clustered = stats.mean_proportion_ci(values, clusters=[i % 3 for i in range(len(values))])
    assert all(0 <= bound <= 1 for bound in clustered.ci if not math.isnan(bound))


@settings(deadline=None)  # no timing in a test: the machine may be busy
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
def test_tango_interval_excludes_0_exactly_when_mcnemar_score_test_rejects(
    n10: int, n01: int, concordant: int
) -> None:
    n = n10 + n01 + concordant
    if n == 0:
        return
    a = np.repeat([1.0, 0.0, 1.0], [n10, n01, concordant])
    b = np.repeat([0.0, 1.0, 1.0], [n10, n01, concordant])
    result = stats.compare(a, b, True, test="mcnemar", exact=False, correction=False)
    low, high = result.ci
    assert -1 <= low <= result.estimate <= high <= 1
    if abs(result.p_value - 0.05) > 1e-6:  # not on the boundary itself
        assert (low > 0 or high < 0) == (result.p_value < 0.05)


@settings(deadline=None)  # no timing in a test: the machine may be busy
@given(
    st.lists(st.integers(1, 500), min_size=3, max_size=25, unique=True),
    st.lists(st.booleans(), min_size=25, max_size=25),
)
def test_exact_hodges_lehmann_interval_excludes_0_exactly_when_wilcoxon_rejects(
    sizes: list[int], negative: list[bool]
) -> None:
    # no zeros and no tied absolute values: the exact test and its exact interval
    diff = [-size if flip else size for size, flip in zip(sizes, negative, strict=False)]
    result = stats.compare(diff, [0.0] * len(diff), True, test="wilcoxon")
    low, high = result.ci
    assert result.ci_method == "Hodges-Lehmann, exact"
    assert low <= result.ci_estimate <= high  # type: ignore[operator]
    assert (low > 0 or high < 0) == (result.p_value <= 0.05)


def test_every_result_record_is_exported_by_the_stats_package() -> None:
    from dataclasses import is_dataclass

    from pytest_crucible.stats import _results

    records = {name for name, value in vars(_results).items() if is_dataclass(value)}
    assert "Comparison" in records
    assert records <= set(stats.__all__)
    assert all(getattr(stats, name) is getattr(_results, name) for name in records)
