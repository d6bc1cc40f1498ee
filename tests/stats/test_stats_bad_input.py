"""Bad data gives a defined result with a clear note; bad arguments raise StatsError."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from pytest_crucible import stats
from pytest_crucible.errors import StatsError

NAN = float("nan")


def nan_fields(result: Any) -> list[str]:
    """Names of float fields (top level) that are NaN."""
    found = []
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and math.isnan(v) for v in values):
            found.append(field.name)
    return found


def explained(result: Any, *words: str) -> str:
    """The notes of a result, asserting that a NaN never comes without one."""
    text = " ".join(result.notes)
    if nan_fields(result):
        assert result.notes, f"NaN in {nan_fields(result)} without a note"
    for word in words:
        assert word in text, (word, text)
    return text


# --- compare ---------------------------------------------------------------------------------


@pytest.mark.parametrize("paired", [True, False])
def test_empty_groups(paired: bool) -> None:
    r = stats.compare([], [], paired=paired)
    assert math.isnan(r.p_value)
    assert r.n == 0
    explained(r, "nothing to compare")


def test_one_pair() -> None:
    r = stats.compare([1.0], [0.5], paired=True, test="paired_t")
    assert math.isnan(r.p_value)
    assert r.estimate == 0.5
    explained(r, "one pair")


def test_one_value_per_group_unpaired() -> None:
    r = stats.compare([1.0], [0.5, 0.7], paired=False, test="welch")
    assert math.isnan(r.p_value)
    explained(r, "at least 2 per group")


def test_identical_conditions() -> None:
    r = stats.compare([0.3, 0.5, 0.9], [0.3, 0.5, 0.9], paired=True)
    assert r.p_value == 1.0
    assert r.ci == (0.0, 0.0)
    explained(r, "equal on every item")


def test_constant_nonzero_difference_uses_the_sign_test() -> None:
    r = stats.compare([1.0, 2.0, 3.0, 4.0, 5.0], [0.9, 1.9, 2.9, 3.9, 4.9], True, "paired_t")
    assert r.p_value == pytest.approx(2 * 0.5**5)
    assert r.method == "exact sign test"
    explained(r, "sign test")


def test_zero_variance_groups_unpaired() -> None:
    same = stats.compare([2.0, 2.0, 2.0], [2.0, 2.0], paired=False)
    assert same.p_value == 1.0
    explained(same, "no difference")
    apart = stats.compare([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], paired=False, test="welch")
    assert apart.p_value == pytest.approx(0.1)  # exact Mann-Whitney: 2 / C(6, 3)
    explained(apart, "exact Mann-Whitney")


def test_nan_values_drop_their_pairs_with_a_count() -> None:
    a = [1.0, 2.0, NAN, 4.0, 5.0, 6.0]
    b = [1.5, NAN, 3.0, 3.5, 5.5, 6.5]
    r = stats.compare(a, b, paired=True, test="paired_t")
    assert r.n == 4
    assert r.n_dropped == 2
    explained(r, "2 of 6 items missing", "complete cases: 4 pairs")


def test_all_identical_binary_outcomes() -> None:
    ones = np.ones(20)
    r = stats.compare(ones, ones, paired=True)
    assert r.test == "mcnemar"
    assert r.p_value == 1.0
    explained(r, "no discordant pairs")
    assert math.isnan(r.effect_size.value)
    assert "no discordant pairs" in r.effect_size.notes[0]


def test_one_sided_binary_wins_give_a_finite_answer() -> None:
    r = stats.compare(np.ones(8), np.zeros(8), paired=True)
    assert r.p_value == pytest.approx(2 * 0.5**8)
    assert r.effect_size.value == math.inf
    assert r.effect_size.notes


def test_repeats_with_missing_runs_are_averaged() -> None:
    a = np.array([[1.0, 0.0, NAN], [1.0, 1.0, 1.0], [NAN, NAN, NAN], [0.0, 0.0, 1.0]])
    b = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    r = stats.compare(a, b, paired=True, test="paired_t")
    assert r.n == 3
    assert r.mean_a == pytest.approx((0.5 + 1.0 + 1 / 3) / 3)
    explained(r, "repeats averaged", "1 of 4 items missing")


def test_single_cluster_is_explained() -> None:
    r = stats.compare([1.0, 2.0, 3.0], [0.0, 2.5, 2.0], True, clusters=["c", "c", "c"])
    assert math.isnan(r.p_value)
    explained(r, "fewer than 2 clusters")


def test_missing_cluster_labels_become_their_own_clusters() -> None:
    r = stats.mean_ci([1.0, 2.0, 3.0, 4.0], clusters=["x", None, "x", float("nan")])
    assert r.n_clusters == 3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: stats.compare([1, 2], [1, 2, 3], paired=True), "one value per item"),
        (lambda: stats.compare([1, 2], [1, 2], paired=True, test="ttest"), "unknown"),
        (lambda: stats.compare(["a", "b"], [1, 2], paired=True), "must hold numbers"),
        (lambda: stats.compare(np.ones((2, 2, 2)), [1, 2], paired=True), "3 dimensions"),
        (lambda: stats.compare(5.0, [1, 2], paired=True), "single number"),
        (lambda: stats.compare([0.5, 1], [0, 1], True, "mcnemar"), "0/1 outcomes"),
        (lambda: stats.compare([1, 2], [1, 3], True, "wilcoxon", clusters=[1, 2]), "ignores"),
        (lambda: stats.compare([1, 2], [1, 3], False, clusters=[1, 2]), "paired=True"),
        (lambda: stats.compare([1, 2], [1, 3], True, "welch"), "independent samples"),
        (lambda: stats.compare([1, 2], [1, 3], False, "wilcoxon"), "paired data"),
        (lambda: stats.compare([1, 2], [1, 3], True, level=95), "between 0 and 1"),
        (lambda: stats.compare([1, 2], [1, 3], True, alternative="bigger"), "unknown"),
        (lambda: stats.compare([1, 2], [1, 3], True, clusters=[1]), "cluster label per item"),
    ],
)
def test_wrong_arguments_raise_stats_error(call: Any, message: str) -> None:
    with pytest.raises(StatsError, match=message):
        call()


# --- the other routines ----------------------------------------------------------------------


def test_mean_ci_bad_data() -> None:
    explained(stats.mean_ci([]), "no values")
    explained(stats.mean_ci([3.0]), "one item")
    flat = stats.mean_ci([1.0, 1.0, 1.0])
    assert flat.ci == (1.0, 1.0)
    explained(flat, "zero width", "proportion_ci")
    explained(stats.mean_ci([1.0, NAN, 2.0]), "1 item(s) without a value dropped")
    explained(stats.mean_ci([1.0, 2.0], clusters=["a", "a"]), "one cluster")


def test_proportion_ci_bad_data() -> None:
    explained(stats.proportion_ci(0, 0), "no trials")
    assert stats.proportion_ci(5, 5).notes
    with pytest.raises(StatsError, match="exceed"):
        stats.proportion_ci(6, 5)
    with pytest.raises(StatsError, match="whole number"):
        stats.proportion_ci(1.5, 5)  # type: ignore[arg-type]


def test_omnibus_bad_data() -> None:
    same = stats.omnibus([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]], paired=True)
    assert same.p_value == 1.0
    explained(same, "no difference")
    few = stats.omnibus([[1.0], [2.0], [3.0]], paired=True)
    explained(few, "1 complete item")
    gaps = stats.omnibus([[1.0, NAN, 3.0, 4.0], [2.0, 2.0, NAN, 5.0], [3, 1, 2, 6]], paired=True)
    assert gaps.n == 2
    explained(gaps, "2 item(s) missing")
    empty = stats.omnibus([[], [1.0, 2.0], [2.0, 4.0]], paired=False, test="anova")
    explained(empty, "no values")
    flat = stats.omnibus([[1.0, 1.0], [2.0, 2.0]], paired=False, test="anova")
    explained(flat, "no variation within")
    with pytest.raises(StatsError, match="at least 2 groups"):
        stats.omnibus([[1.0, 2.0]], paired=False)
    with pytest.raises(StatsError, match="paired=True"):
        stats.omnibus([[1.0, 2.0], [3.0, 4.0]], paired=False, test="friedman")


def test_adjust_leaves_missing_p_values_out() -> None:
    r = stats.adjust([0.01, NAN, 0.04], "bonferroni")
    assert r.adjusted[0] == pytest.approx(0.02)
    assert math.isnan(r.adjusted[1])
    assert r.rejected == (True, False, False)
    explained(r, "left out of the family of 2")
    with pytest.raises(StatsError, match=r"\[0, 1\]"):
        stats.adjust([0.5, 1.5])
    with pytest.raises(StatsError, match="unknown"):
        stats.adjust([0.5], "fdr")


def test_bootstrap_ci_bad_data() -> None:
    explained(stats.bootstrap_ci([1.0]), "at least 2")
    assert stats.bootstrap_ci([2.0, 2.0, 2.0]).ci == (2.0, 2.0)
    with pytest.raises(StatsError, match="unknown"):
        stats.bootstrap_ci([1.0, 2.0], statistic="mode")


def test_equivalence_and_noninferiority_bad_data() -> None:
    r = stats.equivalence([1.0], [1.0], 0.5, paired=True)
    assert not r.equivalent
    explained(r, "no usable standard error")
    n = stats.noninferiority([1.0], [1.0], 0.5, paired=True)
    assert n.verdict == "inconclusive"
    explained(n, "fewer than 2")
    flat = stats.noninferiority([1.0, 1.0], [1.0, 1.0], 0.1, paired=True)
    assert flat.verdict == "noninferior"
    explained(flat, "do not vary")
    with pytest.raises(StatsError, match="margin"):
        stats.equivalence([1.0, 2.0], [1.0, 2.0], -1.0, paired=True)


def test_effect_sizes_bad_data() -> None:
    assert stats.cohens_d([1.0, 1.0], [1.0, 1.0]).notes
    assert stats.cohens_dz([1.0, 2.0], [1.0, 2.0]).notes
    assert stats.odds_ratio([[0, 4], [3, 5]]).notes  # zero cell: Haldane-Anscombe
    with pytest.raises(StatsError, match="2x2"):
        stats.odds_ratio([[1, 2, 3]])


def test_power_bad_arguments() -> None:
    assert stats.sample_size(0.0).n == math.inf
    with pytest.raises(StatsError, match="power"):
        stats.sample_size(0.5, power=80)
    with pytest.raises(StatsError, match="at least 2"):
        stats.power(0.5, 1)
    with pytest.raises(StatsError, match="non-zero"):
        stats.plan_paired_eval(0.0, item_sd=0.3)
