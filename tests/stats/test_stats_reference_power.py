"""Power, sample size, equivalence (TOST) and non-inferiority against published values.

Sources are cited beside each value (see test_stats_reference_tests.py for the conventions).
"""

from __future__ import annotations

import pytest

from pytest_crucible import stats


def close(value: float, expected: float, digits: int) -> None:
    assert value == pytest.approx(expected, rel=0.5 * 10 ** (1 - digits)), (value, expected)


# --- power ---------------------------------------------------------------------------------


def test_sample_size_matches_r_pwr() -> None:
    # pwr.t.test(d = 0.5, power = 0.8) -> n = 63.76561 (issue 3; R pwr docs);
    # d = 0.3 -> 175.3847, d = 0.8 -> 25.52458 (same call, printed in R tutorials)
    close(stats.sample_size(0.5).n, 63.76561, 7)
    assert stats.sample_size(0.5).n_required == 64
    close(stats.sample_size(0.3).n, 175.3847, 7)
    close(stats.sample_size(0.8).n, 25.52458, 7)


def test_sample_size_matches_r_power_t_test() -> None:
    # R docs ?power.t.test: power.t.test(power = .90, delta = 1) -> n = 22.02110;
    # alternative = "one.sided" -> n = 17.84713. Both agree to 6 digits, not 7: R solves for n
    # with uniroot at its default tolerance (.Machine$double.eps^0.25, about 1e-4).
    close(stats.sample_size(1.0, power=0.9).n, 22.02110, 6)
    close(stats.sample_size(1.0, power=0.9, alternative="greater").n, 17.84713, 6)


@pytest.mark.parametrize(
    ("effect", "n", "paired", "expected"),
    [
        # statsmodels tests, R pwr: pwr.t.test(d=0.2, n=20, type="one.sample") (paired = one
        # sample of differences), pwr.t.test(d=1, n=30), pwr.t.test(d=0.1, n=20)
        (0.2, 20, True, 0.1359562887679666),
        (1.0, 30, False, 0.967708258242517),
        (0.1, 20, False, 0.06095912465411235),
    ],
)
def test_power_matches_r_pwr(effect: float, n: int, paired: bool, expected: float) -> None:
    assert stats.power(effect, n, paired=paired).power == pytest.approx(expected, rel=1e-7)


def test_minimum_detectable_effect_inverts_pwr() -> None:
    # pwr.t.test(d = 0.5, power = 0.8) -> n = 63.76561, so that n detects d = 0.5
    close(stats.minimum_detectable_effect(63.76561).effect, 0.5, 6)


# --- equivalence and non-inferiority -------------------------------------------------------

# statsmodels tests (test_tost.py): the "clinic" data, var1 = column 3, var2 = column 4, rows
# 1-15 vs 16-30. R: library(equivalence); tost(...) values below.
CLINIC_VAR1 = [2.84, 2.51, 2.41, 2.95, 3.14, 3.79, 4.14, 3.85, 3.02, 3.45, 5.37, 3.81, 4.19]
CLINIC_VAR1 += [3.16, 3.84, 2.60, 2.82, 2.18, 3.46, 4.01, 3.04, 3.47, 4.06, 2.91, 3.59, 4.51]
CLINIC_VAR1 += [3.16, 3.86, 3.31, 3.02]
CLINIC_VAR2 = [4.00, 3.26, 4.14, 3.42, 3.25, 4.34, 4.97, 4.31, 3.11, 3.41, 5.02, 4.21, 4.59]
CLINIC_VAR2 += [5.30, 4.32, 3.76, 3.66, 3.65, 3.60, 3.48, 2.87, 3.24, 3.92, 3.99, 4.21, 4.21]
CLINIC_VAR2 += [3.31, 3.61, 2.97, 2.73]


def test_tost_paired_matches_r_equivalence() -> None:
    # tost(-clinic$var2[16:30] + clinic$var2[1:15], eps = 0.6): mean_diff 0.5626666666666665,
    # se 0.2478276410785118, df 14, 90% CI (0.1261653305099018, 0.999168002823431),
    # p 0.4412034046017588, "not rejected"; var1: p 0.003166881489265175, "rejected"
    r = stats.equivalence(CLINIC_VAR2[:15], CLINIC_VAR2[15:], 0.6, paired=True)
    assert r.estimate == pytest.approx(0.5626666666666665)
    assert r.se == pytest.approx(0.2478276410785118, rel=1e-10)
    assert r.df == 14
    assert r.ci == pytest.approx((0.1261653305099018, 0.999168002823431), rel=1e-10)
    assert r.p_value == pytest.approx(0.4412034046017588, rel=1e-10)
    assert not r.equivalent
    r1 = stats.equivalence(CLINIC_VAR1[:15], CLINIC_VAR1[15:], 0.6, paired=True)
    assert r1.p_value == pytest.approx(0.003166881489265175, rel=1e-10)
    assert r1.equivalent


def test_tost_independent_matches_r_equivalence() -> None:
    # tost(clinic$var2[1:15], clinic$var2[16:30], eps = 0.6): Welch df 24.11000151062728,
    # se 0.2149871904637392, CI (0.194916250699966, 0.930417082633366), p 0.4317936812594803;
    # var1: df 26.7484787582315, p 0.04853083976236974, "rejected"
    r = stats.equivalence(CLINIC_VAR2[:15], CLINIC_VAR2[15:], 0.6, paired=False)
    assert r.df == pytest.approx(24.11000151062728, rel=1e-10)
    assert r.se == pytest.approx(0.2149871904637392, rel=1e-10)
    assert r.ci == pytest.approx((0.194916250699966, 0.930417082633366), rel=1e-10)
    assert r.p_value == pytest.approx(0.4317936812594803, rel=1e-10)
    r1 = stats.equivalence(CLINIC_VAR1[:15], CLINIC_VAR1[15:], 0.6, paired=False)
    assert r1.df == pytest.approx(26.7484787582315, rel=1e-10)
    assert r1.p_value == pytest.approx(0.04853083976236974, rel=1e-10)
    assert r1.equivalent


def test_noninferiority_bound_matches_r_one_sided_t_test() -> None:
    # scipy tests (test_ttest_rel_ci_1d), R: t.test(x, y, paired = TRUE, conf.level = 0.85,
    # alternative = "greater") -> lower bound -1.563944820311475: at alpha = 0.15 that is the
    # non-inferiority bound; with margin 2 it lies above -2, so a is shown non-inferior.
    x = [1.22825792, 1.63950485, 4.39025641, 0.68609437, 2.03813481, -1.20040109, 1.81997937]
    x += [1.86854636, 2.94694282, 3.94291373]
    y = [3.49961496, 1.53192536, 5.53620083, 2.91687718, 0.04858043, 3.78505943, 3.3077496]
    y += [2.30468892, 3.42168074, 0.56797592]
    r = stats.noninferiority(x, y, margin=2.0, paired=True, alpha=0.15)
    assert r.lower_bound == pytest.approx(-1.563944820311475, rel=1e-9)
    assert r.verdict == "noninferior"
    # the same data with a margin of 0.1 cannot exclude a 0.1 loss
    assert stats.noninferiority(x, y, margin=0.1, paired=True).verdict == "inconclusive"


# --- Miller's planning of paired evals -------------------------------------------------------


def test_plan_paired_eval_follows_miller_variance_decomposition() -> None:
    # Miller (2024), "Adding Error Bars to Evals", section 5: with K repeats the per-item
    # difference has variance omega_a^2 + omega_b^2 - 2 rho omega_a omega_b
    # + (sigma_a^2 + sigma_b^2) / K, and n = (z_{1-alpha/2} + z_{power})^2 var / delta^2.
    # No worked number is printed there to match; we check the formula and its t refinement.
    plan = stats.plan_paired_eval(
        0.05, item_sd=(0.4, 0.3), correlation=0.5, within_sd=0.2, repeats=2
    )
    variance = 0.4**2 + 0.3**2 - 2 * 0.5 * 0.4 * 0.3 + (0.2**2 + 0.2**2) / 2
    assert plan.var_difference == pytest.approx(variance)
    normal = (1.959963984540054 + 0.8416212335729143) ** 2 * variance / 0.05**2
    assert abs(plan.n_items_exact - normal) < 3  # the t distribution adds about 2 items
    t_based = stats.sample_size(0.05 / variance**0.5, paired=True)
    assert plan.n_items == t_based.n_required
    floor = stats.sample_size(0.05 / (variance - 0.04) ** 0.5, paired=True).n_required
    assert plan.n_items_floor == floor
    assert dict(plan.n_items_by_repeats)[2] == plan.n_items


def test_plan_says_whether_more_repeats_help() -> None:
    # accuracy 0.7 (p (1 - p) = 0.21) split between items and repeats
    noisy = stats.plan_paired_eval(0.05, item_sd=0.2, within_sd=0.41, correlation=0.6)
    assert noisy.repeats_help
    assert "more repeats help" in noisy.advice
    steady = stats.plan_paired_eval(0.05, item_sd=0.45, within_sd=0.05, correlation=0.3)
    assert not steady.repeats_help
    assert "add items" in steady.advice
    counts = [n for _, n in noisy.n_items_by_repeats]
    assert counts == sorted(counts, reverse=True)
