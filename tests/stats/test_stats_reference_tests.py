"""Every test of `compare` checked against published reference output, to its printed precision.

Sources are cited beside each value. "R docs" means the example section of the R help page
(R 4.x), whose output is printed in countless copies; "scipy tests"/"statsmodels tests" means
the R values that those projects' own test files cite (installed with them).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_crucible import stats

# R datasets::sleep (Cushny & Peebles via Student 1908): extra sleep under drug 1 and drug 2.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

# R ?wilcox.test, Hollander & Wolfe (1973) p. 29: depression scale before (x) and after (y).
HW_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
HW_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
# R ?wilcox.test, Hollander & Wolfe (1973) p. 69: permeability at term (x) and mid-term (y).
PERM_X = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
PERM_Y = [1.15, 0.88, 0.90, 0.74, 1.21]


def close(value: float, expected: float, digits: int) -> None:
    """value agrees with a reference printed to `digits` significant digits."""
    assert value == pytest.approx(expected, rel=0.5 * 10 ** (1 - digits)), (value, expected)


def test_welch_t_matches_r_sleep() -> None:
    # R docs ?t.test: t.test(extra ~ group, data = sleep)
    # t = -1.8608, df = 17.776, p-value = 0.07939, 95% CI -3.3654832 0.2054832
    r = stats.compare(SLEEP_1, SLEEP_2, paired=False, test="welch")
    close(r.statistic, -1.8608, 5)
    close(r.df or 0, 17.776, 5)
    close(r.p_value, 0.07939, 4)
    close(r.ci[0], -3.3654832, 8)
    close(r.ci[1], 0.2054832, 7)
    assert r.estimate == pytest.approx(-1.58)  # mean(a) - mean(b)


def test_student_t_matches_r_sleep() -> None:
    # R: t.test(extra ~ group, data = sleep, var.equal = TRUE)
    # t = -1.8608, df = 18, p-value = 0.07919 (the same F appears in R's
    # oneway.test(var.equal = TRUE): p = 0.0791867142159381)
    r = stats.compare(SLEEP_1, SLEEP_2, paired=False, test="student")
    close(r.statistic, -1.8608, 5)
    assert r.df == 18
    close(r.p_value, 0.0791867142159381, 12)


def test_paired_t_matches_r_sleep() -> None:
    # R docs ?t.test: with(sleep, t.test(extra[group == 1], extra[group == 2], paired = TRUE))
    # t = -4.0621, df = 9, p-value = 0.002833, 95% CI -2.4598858 -0.7001142, mean diff -1.58
    r = stats.compare(SLEEP_1, SLEEP_2, paired=True, test="paired_t")
    close(r.statistic, -4.0621, 5)
    assert r.df == 9
    close(r.p_value, 0.002833, 4)
    close(r.ci[0], -2.4598858, 8)
    close(r.ci[1], -0.7001142, 7)


def test_paired_t_one_sided_ci_matches_r() -> None:
    # scipy tests (test_ttest_rel_ci_1d), R: t.test(x, y, paired=TRUE, conf.level=0.85,
    # alternative='l') -> upper bound 0.05192005631147523; two-sided 85% CI below
    x = [1.22825792, 1.63950485, 4.39025641, 0.68609437, 2.03813481, -1.20040109, 1.81997937]
    x += [1.86854636, 2.94694282, 3.94291373]
    y = [3.49961496, 1.53192536, 5.53620083, 2.91687718, 0.04858043, 3.78505943, 3.3077496]
    y += [2.30468892, 3.42168074, 0.56797592]
    less = stats.compare(x, y, True, test="paired_t", alternative="less", level=0.85)
    assert less.ci[0] == -np.inf
    assert less.ci[1] == pytest.approx(0.05192005631147523, rel=1e-6)
    both = stats.compare(x, y, True, test="paired_t", level=0.85)
    assert both.ci == pytest.approx((-1.912194489914035, 0.400169725914035), rel=1e-6)


def test_wilcoxon_exact_matches_r_docs() -> None:
    # R docs ?wilcox.test: wilcox.test(x, y, paired = TRUE, alternative = "greater")
    # V = 40, p-value = 0.01953 (exactly 10/512); two-sided p = 0.03906
    greater = stats.compare(HW_X, HW_Y, True, test="wilcoxon", alternative="greater")
    assert greater.statistic == 40
    assert greater.p_value == pytest.approx(10 / 512, rel=1e-12)
    assert greater.method == "Wilcoxon signed-rank exact"
    both = stats.compare(HW_X, HW_Y, True, test="wilcoxon")
    close(both.p_value, 0.03906, 4)


def test_wilcoxon_normal_approximation_matches_r_docs() -> None:
    # R docs ?wilcox.test: wilcox.test(y - x, alternative = "less", exact = FALSE,
    # correct = FALSE)  # H&W large sample -> V = 5, p-value = 0.01908
    r = stats.compare(
        HW_Y, HW_X, True, test="wilcoxon", alternative="less", exact=False, correction=False
    )
    assert r.statistic == 5
    close(r.p_value, 0.01908, 4)


@pytest.mark.parametrize(
    ("alternative", "correction", "expected"),
    [
        # scipy tests (test_onesided), R 4.0.3: wilcox.test(x, y, paired = TRUE, exact = FALSE,
        # alternative = ..., correct = ...)
        ("less", False, 0.7031847042787),
        ("less", True, 0.72336564289),
        ("greater", False, 0.2968152957213),
        ("greater", True, 0.3176446594176),
    ],
)
def test_wilcoxon_continuity_correction_matches_r(
    alternative: str, correction: bool, expected: float
) -> None:
    x = [125, 115, 130, 140, 140, 115, 140, 125, 140, 135]
    y = [110, 122, 125, 120, 140, 124, 123, 137, 135, 145]
    r = stats.compare(
        x, y, True, test="wilcoxon", alternative=alternative, exact=False, correction=correction
    )
    assert r.statistic == 27  # R's V
    assert r.p_value == pytest.approx(expected, rel=1e-9)


def test_wilcoxon_with_ties_and_zeros_matches_r_sleep() -> None:
    # R: wilcox.test(extra ~ group, data = sleep, paired = TRUE) -> V = 0, p-value = 0.009091
    # (a zero difference and ties: R falls back to the corrected normal approximation)
    r = stats.compare(SLEEP_1, SLEEP_2, True, test="wilcoxon")
    assert r.statistic == 0
    close(r.p_value, 0.009091, 4)
    assert any("zero difference" in note for note in r.notes)


def test_mann_whitney_exact_and_asymptotic_match_r_docs() -> None:
    # R docs ?wilcox.test: wilcox.test(x, y, alternative = "g") -> W = 35, p-value = 0.1272;
    # wilcox.test(x, y, alternative = "greater", exact = FALSE, correct = FALSE) -> 0.1103
    exact = stats.compare(PERM_X, PERM_Y, False, test="mann_whitney", alternative="greater")
    assert exact.statistic == 35
    close(exact.p_value, 0.1272, 4)
    approx = stats.compare(
        PERM_X, PERM_Y, False, "mann_whitney", "greater", exact=False, correction=False
    )
    close(approx.p_value, 0.1103, 4)


def test_mann_whitney_ties_match_r_sleep() -> None:
    # R: wilcox.test(extra ~ group, data = sleep) -> W = 25.5, p-value = 0.06933
    r = stats.compare(SLEEP_1, SLEEP_2, False, test="mann_whitney")
    assert r.statistic == 25.5
    close(r.p_value, 0.06933, 4)


def test_mcnemar_matches_r_docs_agresti_approval() -> None:
    # R docs ?mcnemar.test, Agresti (1990) p. 350, presidential approval, 1,600 people:
    # mcnemar.test(Performance) -> McNemar's chi-squared = 16.818, df = 1, p-value = 4.115e-05
    # mcnemar.test(Performance, correct = FALSE) -> 17.356, p-value = 3.099e-05
    first = np.repeat([1, 1, 0, 0], [794, 150, 86, 570])
    second = np.repeat([1, 0, 1, 0], [794, 150, 86, 570])
    corrected = stats.compare(first, second, True, test="mcnemar", exact=False)
    close(corrected.statistic, 16.818, 5)
    assert corrected.df == 1
    close(corrected.p_value, 4.115e-05, 4)
    plain = stats.compare(first, second, True, test="mcnemar", exact=False, correction=False)
    close(plain.statistic, 17.356, 5)
    close(plain.p_value, 3.099e-05, 4)
    assert plain.estimate == pytest.approx(0.04)  # 0.59 - 0.55
    assert plain.effect_size.value == pytest.approx(150 / 86)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        # statsmodels tests (test_mcnemar_chisquare), R: mcnemar.test(matrix(c(...), nrow=2))
        ([[101, 121], [59, 33]], (2.067222e01, 5.450095e-06)),
        ([[101, 70], [59, 33]], (0.7751938, 0.3786151)),
        ([[101, 80], [59, 33]], (2.87769784, 0.08981434)),
    ],
)
def test_mcnemar_chi_squared_matches_r(
    table: list[list[int]], expected: tuple[float, float]
) -> None:
    (n11, n10), (n01, n00) = table
    a = np.repeat([1, 1, 0, 0], [n11, n10, n01, n00])
    b = np.repeat([1, 0, 1, 0], [n11, n10, n01, n00])
    r = stats.compare(a, b, True, test="mcnemar", exact=False)
    assert (r.statistic, r.p_value) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        # statsmodels tests (test_mcnemar_exact), values from the Vassar College calculator
        ([[101, 121], [59, 33]], 0.000004),
        ([[101, 70], [59, 33]], 0.378688),
        ([[101, 10], [30, 33]], 0.002221),
        ([[101, 10], [10, 33]], 1.0),
    ],
)
def test_mcnemar_exact_matches_published(table: list[list[int]], expected: float) -> None:
    (n11, n10), (n01, n00) = table
    a = np.repeat([1, 1, 0, 0], [n11, n10, n01, n00])
    b = np.repeat([1, 0, 1, 0], [n11, n10, n01, n00])
    r = stats.compare(a, b, True)  # auto: paired 0/1 -> McNemar exact
    assert r.test == "mcnemar"
    assert r.method == "McNemar exact"
    assert r.p_value == pytest.approx(expected, abs=5e-7)


def test_sign_flip_permutation_matches_fisher_darwin() -> None:
    # Fisher (1935), The Design of Experiments, section 21: Darwin's Zea mays, 15 paired
    # height differences (eighths of an inch); of the 2^15 = 32,768 sign patterns, 863 give a
    # sum >= 314, so the two-sided randomization p-value is 1726 / 32768 = 0.05267.
    diffs = [49, -67, 8, 16, 6, 23, 28, 41, 14, 29, 56, 24, 75, 60, -48]
    r = stats.compare(diffs, np.zeros(15), True, test="permutation")
    assert r.p_value == 1726 / 32768
    greater = stats.compare(diffs, np.zeros(15), True, test="permutation", alternative="greater")
    assert greater.p_value == 863 / 32768
    assert "exact" in r.method


def test_bootstrap_test_interval_matches_r_boot_percentile() -> None:
    # scipy tests (test_bootstrap_against_R): R boot::boot.ci(boot(x, mean, 1e6)) percentile
    # interval 28.86 84.21. Paired against zeros, the bootstrap of d = x is that bootstrap.
    x = [10, 12, 12.5, 12.5, 13.9, 15, 21, 22, 23, 34, 50, 81, 89, 121, 134, 213]
    r = stats.compare(x, np.zeros(16), True, test="bootstrap", n_resamples=200_000, seed=3)
    assert r.ci == pytest.approx((28.86, 84.21), rel=0.005)


def test_bootstrap_test_is_seeded_and_agrees_with_the_t_interval() -> None:
    # No published value can be matched draw for draw (each bootstrap depends on its random
    # generator); a seeded run must repeat exactly and its percentile interval must agree
    # with R's t.test CI for the paired sleep data to within Monte Carlo error.
    first = stats.compare(SLEEP_1, SLEEP_2, True, test="bootstrap", seed=7)
    again = stats.compare(SLEEP_1, SLEEP_2, True, test="bootstrap", seed=7)
    assert first == again
    assert first.ci == pytest.approx((-2.4598858, -0.7001142), abs=0.35)
    assert first.p_value < 0.01


# --- intervals that invert the paired tests ----------------------------------------------


def test_hodges_lehmann_interval_matches_r_wilcox_test_conf_int() -> None:
    # R docs ?wilcox.test: wilcox.test(x, y, paired = TRUE, alternative = "greater",
    # conf.int = TRUE) -> 95 percent confidence interval: 0.175 Inf, (pseudo)median 0.46
    greater = stats.compare(HW_X, HW_Y, True, test="wilcoxon", alternative="greater")
    assert greater.ci == pytest.approx((0.175, math.inf))
    assert greater.ci_estimate == pytest.approx(0.46)
    assert greater.ci_method == "Hodges-Lehmann, exact"
    # R: wilcox.test(extra ~ group, data = sleep, paired = TRUE, conf.int = TRUE) -> a zero
    # and ties, so the normal approximation: -2.949921 -1.050018, (pseudo)median -1.400031
    # (R's uniroot stops within 1e-4 of the step of the statistic at -2.95 and -1.05)
    sleep = stats.compare(SLEEP_1, SLEEP_2, True, test="wilcoxon")
    assert sleep.ci == pytest.approx((-2.949921, -1.050018), abs=1e-4)
    assert sleep.ci_estimate == pytest.approx(-1.400031, abs=1e-4)
    assert sleep.ci_method == "Hodges-Lehmann, normal approx."


def test_tango_interval_matches_fagerland_lydersen_laake() -> None:
    # Fagerland, Lydersen & Laake (2014), Stat Med 33:2850, airway hyper-responsiveness
    # (Bentur et al.): 21 pairs, n10 = 1, n01 = 7 -> Tango asymptotic score interval for
    # p1+ - p+1: -0.2857 (-0.5172 to -0.0260)
    first = np.repeat([1, 1, 0, 0], [1, 1, 7, 12])
    second = np.repeat([1, 0, 1, 0], [1, 1, 7, 12])
    r = stats.compare(first, second, True, test="mcnemar")
    assert r.estimate == pytest.approx(-6 / 21)
    assert r.ci == pytest.approx((-0.5172, -0.0260), abs=6e-5)
    assert r.ci_method == "Tango score"
