"""Intervals, omnibus tests, corrections, effect sizes, power and TOST against published values.

Sources are cited beside each value (see test_stats_reference_tests.py for the conventions).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from pytest_crucible import stats

SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]

# R datasets::mtcars, mpg of cars with automatic (am = 0) and manual (am = 1) transmission.
MPG_AUTO = [21.4, 18.7, 18.1, 14.3, 24.4, 22.8, 19.2, 17.8, 16.4, 17.3, 15.2, 10.4, 10.4]
MPG_AUTO += [14.7, 21.5, 15.5, 15.2, 13.3, 19.2]
MPG_MANUAL = [21.0, 21.0, 22.8, 32.4, 30.4, 33.9, 27.3, 26.0, 30.4, 15.8, 19.7, 15.0, 21.4]

# NIST StRD ANOVA "SiRstv" (Ehrstein & Croarkin): resistance of 5 instruments x 5 wafers.
SIRSTV = [
    [196.3052, 196.1240, 196.1890, 196.2569, 196.3403],
    [196.3042, 196.3825, 196.1669, 196.3257, 196.0422],
    [196.1303, 196.2005, 196.2889, 196.0343, 196.1811],
    [196.2795, 196.1748, 196.1494, 196.1485, 195.9885],
    [196.2119, 196.1051, 196.1850, 196.0052, 196.2090],
]
# R datasets::PlantGrowth, dried weight by treatment.
PLANT = {
    "ctrl": [4.17, 5.58, 5.18, 6.11, 4.50, 4.61, 5.17, 4.53, 5.33, 5.14],
    "trt1": [4.81, 4.17, 4.41, 3.59, 5.87, 3.83, 6.03, 4.89, 4.32, 4.69],
    "trt2": [6.31, 5.12, 5.54, 5.50, 5.37, 5.29, 4.92, 6.15, 5.80, 5.26],
}
# R ?friedman.test, Hollander & Wolfe (1973) p. 140: RoundingTimes, 22 players x 3 methods.
ROUNDING = np.array(
    [
        [5.40, 5.50, 5.55],
        [5.85, 5.70, 5.75],
        [5.20, 5.60, 5.50],
        [5.55, 5.50, 5.40],
        [5.90, 5.85, 5.70],
        [5.45, 5.55, 5.60],
        [5.40, 5.40, 5.35],
        [5.45, 5.50, 5.35],
        [5.25, 5.15, 5.00],
        [5.85, 5.80, 5.70],
        [5.25, 5.20, 5.10],
        [5.65, 5.55, 5.45],
        [5.60, 5.35, 5.45],
        [5.05, 5.00, 4.95],
        [5.50, 5.50, 5.40],
        [5.45, 5.55, 5.50],
        [5.55, 5.55, 5.35],
        [5.45, 5.50, 5.55],
        [5.50, 5.45, 5.25],
        [5.65, 5.60, 5.40],
        [5.70, 5.65, 5.55],
        [6.30, 6.30, 6.25],
    ]
)


def close(value: float, expected: float, digits: int) -> None:
    assert value == pytest.approx(expected, rel=0.5 * 10 ** (1 - digits)), (value, expected)


# --- intervals --------------------------------------------------------------------------


def test_mean_ci_matches_r_t_test_one_sample() -> None:
    # scipy tests (test_1samp_ci_1d), R: t.test(x, conf.level = 0.85) -> CI below
    x = [2.75532884, 0.93892217, 0.94835861, 1.49489446, -0.62396595, -1.88019867]
    x += [-1.55684465, 4.88777104, 5.15310979, 4.34656348]
    r = stats.mean_ci(x, level=0.85)
    assert r.ci == pytest.approx((0.3594423211709136, 2.9333455028290860), rel=1e-7)
    assert r.df == 9
    assert r.method == "t"


def test_mean_ci_of_paired_differences_matches_r_paired_ci() -> None:
    # R docs ?t.test paired sleep: 95% CI -2.4598858 -0.7001142
    diffs = np.subtract(SLEEP_1, SLEEP_2)
    r = stats.mean_ci(diffs)
    assert r.ci == pytest.approx((-2.4598858, -0.7001142), abs=5e-8)


def test_clustered_se_equals_statsmodels_cluster_robust_ols() -> None:
    # Cross-check (statsmodels is validated against Stata): intercept-only OLS with
    # cov_type="cluster" applies G/(G-1) * (N-1)/(N-K), K = 1, the CR1 correction used here.
    rng = np.random.default_rng(5)
    clusters = np.repeat(np.arange(12), rng.integers(1, 6, size=12))
    y = rng.normal(size=clusters.size) + clusters % 3
    fit = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    r = stats.mean_ci(y, clusters=clusters)
    assert r.se == pytest.approx(float(fit.bse[0]), rel=1e-12)
    assert r.n_clusters == 12
    assert r.df == 11


def test_clopper_pearson_matches_r_binom_test() -> None:
    # R docs ?binom.test (Mendel's peas): binom.test(c(682, 243), p = 3/4)
    # 95 percent confidence interval: 0.7076683 0.7654066
    r = stats.proportion_ci(682, 925, method="clopper_pearson")
    close(r.ci[0], 0.7076683, 7)
    close(r.ci[1], 0.7654066, 7)
    # scipy tests, R 3.6.2: binom.test(3, 50, p = 0.2, conf.level = 0.99)
    r99 = stats.proportion_ci(3, 50, method="clopper_pearson", level=0.99)
    assert r99.ci == pytest.approx((0.006872485, 0.202706269), rel=1e-6)


def test_wilson_matches_r_prop_test_without_correction() -> None:
    # scipy tests, R 3.6.2: prop.test(3, 10, correct = FALSE) -> 0.1077913 0.6032219;
    # prop.test(0, 10, correct = FALSE) -> 0.0000000 0.2775328
    assert stats.proportion_ci(3, 10).ci == pytest.approx((0.1077913, 0.6032219), rel=1e-6)
    zero = stats.proportion_ci(0, 10)
    assert zero.ci[0] == pytest.approx(0.0, abs=1e-12)
    assert zero.ci[1] == pytest.approx(0.2775328, rel=1e-6)


@pytest.mark.parametrize(
    ("method", "low", "high"),
    # scipy tests (test_bootstrap_against_R): R boot::boot.ci with 1,000,000 resamples
    [("basic", 23.77, 79.12), ("percentile", 28.86, 84.21), ("bca", 32.31, 91.43)],
)
def test_bootstrap_ci_matches_r_boot(method: str, low: float, high: float) -> None:
    x = [10, 12, 12.5, 12.5, 13.9, 15, 21, 22, 23, 34, 50, 81, 89, 121, 134, 213]
    r = stats.bootstrap_ci(x, "mean", method=method, n_resamples=200_000, seed=1)
    # Monte Carlo error of our 200,000 resamples is well inside 0.5%
    assert r.ci == pytest.approx((low, high), rel=0.005)
    assert r == stats.bootstrap_ci(x, "mean", method=method, n_resamples=200_000, seed=1)


# --- omnibus -----------------------------------------------------------------------------


def test_anova_matches_nist_certified_sirstv() -> None:
    # NIST StRD SiRstv certified values: F = 1.18046237440255E+00 (df 4, 20),
    # R-squared (= eta squared) = 1.90999039051129E-01
    r = stats.omnibus(SIRSTV, paired=False, test="anova")
    assert r.statistic == pytest.approx(1.18046237440255, rel=1e-10)
    assert r.df == (4, 20)
    eta = {e.name: e.value for e in r.effect_sizes}["eta_squared"]
    assert eta == pytest.approx(0.190999039051129, rel=1e-10)


def test_anova_and_welch_anova_match_r_plantgrowth() -> None:
    # R: oneway.test(weight ~ group, PlantGrowth, var.equal = TRUE) -> F = 4.846088,
    # num df = 2, denom df = 27, p-value = 0.01591; var.equal = FALSE (Welch) -> F = 5.181,
    # num df = 2.000, denom df = 17.128, p-value = 0.01739
    classic = stats.omnibus(PLANT, paired=False, test="anova")
    close(classic.statistic, 4.846088, 7)
    close(classic.p_value, 0.01591, 4)
    welch = stats.omnibus(PLANT, paired=False, test="welch_anova")
    close(welch.statistic, 5.181, 4)
    close(welch.df[1], 17.128, 5)
    close(welch.p_value, 0.01739, 4)


def test_welch_anova_matches_r_oneway_test_sleep() -> None:
    # R docs ?oneway.test: oneway.test(extra ~ group, data = sleep)
    # F = 3.4626, num df = 1.000, denom df = 17.776, p-value = 0.07939
    r = stats.omnibus([SLEEP_1, SLEEP_2], paired=False, test="welch_anova")
    close(r.statistic, 3.4626, 5)
    close(r.df[1], 17.776, 5)
    close(r.p_value, 0.07939, 4)


def test_kruskal_matches_r_docs() -> None:
    # R docs ?kruskal.test, Hollander & Wolfe (1973) p. 116, mucociliary efficiency:
    # Kruskal-Wallis chi-squared = 0.77143, df = 2, p-value = 0.68
    groups = [[2.9, 3.0, 2.5, 2.6, 3.2], [3.8, 2.7, 4.0, 2.4], [2.8, 3.4, 3.7, 2.2, 2.0]]
    r = stats.omnibus(groups, paired=False, test="kruskal")
    close(r.statistic, 0.77143, 5)
    assert r.df == (2,)
    close(r.p_value, 0.68, 2)


def test_friedman_and_kendalls_w_match_r_docs() -> None:
    # R docs ?friedman.test: friedman.test(RoundingTimes)
    # Friedman chi-squared = 11.143, df = 2, p-value = 0.003805; Kendall's W = chi2 / (n (k-1))
    # = 0.2532468 (as printed by R for the same data)
    r = stats.omnibus(list(ROUNDING.T), paired=True)
    assert r.test == "friedman"
    close(r.statistic, 11.143, 5)
    close(r.p_value, 0.003805, 4)
    close(r.effect_sizes[0].value, 0.2532468, 7)


def test_friedman_matches_zar_example() -> None:
    # Zar, Biostatistical Analysis, example 12.6 (cited in scipy tests): Xf = 10.68
    data = [
        [7.0, 9.9, 8.5, 5.1, 10.3],
        [5.3, 5.7, 4.7, 3.5, 7.7],
        [4.9, 7.6, 5.5, 2.8, 8.4],
        [8.8, 8.9, 8.1, 3.3, 9.1],
    ]
    close(stats.omnibus(data, paired=True, test="friedman").statistic, 10.68, 4)


def test_cochran_q_matches_conover() -> None:
    # Conover (1999) Practical Nonparametric Statistics p. 253, as in NIST Dataplot's
    # COCHRAN TEST page: Q = 2.8, p = 0.2466 (statsmodels tests: 0.246597)
    x = np.array(
        [
            [1, 1, 1],
            [1, 1, 1],
            [0, 1, 0],
            [1, 1, 0],
            [0, 0, 0],
            [1, 1, 1],
            [1, 1, 1],
            [1, 1, 0],
            [0, 0, 1],
            [0, 1, 0],
            [1, 1, 1],
            [1, 1, 1],
        ]
    )
    r = stats.omnibus(list(x.T), paired=True)
    assert r.test == "cochran_q"
    assert r.statistic == pytest.approx(2.8)
    close(r.p_value, 0.246597, 6)


# --- corrections ---------------------------------------------------------------------------

# statsmodels tests (test_multi.py), R multtest::mt.rawp2adjp on these ten p-values; rows
# are sorted by raw p: (raw, Bonferroni, Holm, BH).
P_VALUES = [0.838541367553, 0.642193923795, 0.680845947633, 0.967833824309, 0.71626938238]
P_VALUES += [0.177096952723, 5.23656777208e-005, 0.0202732688798, 0.00028140506198]
P_VALUES += [0.0149877310796]
R_MULTTEST = [
    (5.23656777208e-05, 5.2365677720800005e-04, 5.2365677720800005e-04, 5.2365677720800005e-04),
    (2.8140506198e-04, 2.8140506197999998e-03, 2.5326455578199999e-03, 1.4070253098999999e-03),
    (1.49877310796e-02, 1.4987731079600000e-01, 1.1990184863680001e-01, 4.9959103598666670e-02),
    (2.02732688798e-02, 2.0273268879799999e-01, 1.4191288215860001e-01, 5.0683172199499998e-02),
    (1.77096952723e-01, 1.0, 1.0, 3.5419390544599999e-01),
    (6.42193923795e-01, 1.0, 1.0, 8.9533672797500008e-01),
    (6.80845947633e-01, 1.0, 1.0, 8.9533672797500008e-01),
    (7.1626938238e-01, 1.0, 1.0, 8.9533672797500008e-01),
    (8.38541367553e-01, 1.0, 1.0, 9.3171263061444454e-01),
    (9.67833824309e-01, 1.0, 1.0, 9.6783382430900000e-01),
]


@pytest.mark.parametrize(("method", "column"), [("bonferroni", 1), ("holm", 2), ("bh", 3)])
def test_adjust_matches_r_multtest(method: str, column: int) -> None:
    result = stats.adjust(P_VALUES, method)
    by_raw = dict(zip(result.p_values, result.adjusted, strict=True))
    for row in R_MULTTEST:
        assert by_raw[row[0]] == pytest.approx(row[column], rel=1e-10)


# --- effect sizes --------------------------------------------------------------------------


def test_cohens_d_and_hedges_g_match_r_effectsize() -> None:
    # R effectsize docs: cohens_d(mpg ~ am, data = mtcars) -> -1.48, 95% CI [-2.27, -0.67];
    # hedges_g(...) -> -1.44 [-2.21, -0.65]; tidystats' tests pin d = -1.477947, g = -1.440635
    # (R: t.test(mpg ~ am, var.equal = TRUE) CI -10.85 -3.64 confirms the data)
    d = stats.cohens_d(MPG_AUTO, MPG_MANUAL)
    close(d.value, -1.477947, 7)
    assert d.ci == pytest.approx((-2.27, -0.67), abs=0.005)
    g = stats.hedges_g(MPG_AUTO, MPG_MANUAL)
    close(g.value, -1.440635, 7)
    assert g.ci == pytest.approx((-2.21, -0.65), abs=0.005)
    t = stats.compare(MPG_AUTO, MPG_MANUAL, False, test="student")
    assert t.ci == pytest.approx((-10.85, -3.64), abs=0.005)


def test_dz_matches_r_effectsize_paired_sleep() -> None:
    # tidystats tests: effectsize::cohens_d(Pair(extra[group == 1], extra[group == 2]) ~ 1,
    # data = sleep) -> -1.284558
    close(stats.cohens_dz(SLEEP_1, SLEEP_2).value, -1.284558, 7)


def test_odds_ratios_match_published() -> None:
    # Fagerland, Lydersen & Laake (2015), Stat Methods Med Res 24:224, table for 7/34 vs 1/34
    # (cited in statsmodels tests): Woolf logit CI for the odds ratio 0.99 to 74
    woolf = stats.odds_ratio([[7, 27], [1, 33]])
    assert woolf.ci == pytest.approx((0.99, 74), rel=0.01)
    # scipy data file fisher_exact_results_from_r (R 3.6.2): fisher.test([[2, 7], [8, 2]])
    # conditional MLE 0.0858623513573622, CI (0.004668988338943325, 0.895792956493601);
    # R's root finder is coarse (scipy's tests allow 2% on the CI), hence rel 2e-3 here.
    cond = stats.odds_ratio([[2, 7], [8, 2]], kind="conditional")
    assert cond.value == pytest.approx(0.0858623513573622, rel=5e-4)
    assert cond.ci == pytest.approx((0.004668988338943325, 0.895792956493601), rel=2e-3)


def test_paired_odds_ratio_ci_is_the_transformed_r_binomial_ci() -> None:
    # The exact CI of n10/n01 is p/(1-p) at the ends of the Clopper-Pearson CI of
    # n10/(n10+n01): with 682 vs 243 discordant pairs, R's binom.test CI 0.7076683 0.7654066.
    r = stats.odds_ratio([[0, 682], [243, 0]], paired=True)
    assert r.value == pytest.approx(682 / 243)
    assert r.ci == pytest.approx((0.7076683 / 0.2923317, 0.7654066 / 0.2345934), rel=1e-6)


def test_risk_difference_matches_fagerland() -> None:
    # Fagerland et al. (2015), 7/34 vs 1/34: Newcombe hybrid score 0.019 to 0.34,
    # Wald 0.029 to 0.32
    newcombe = stats.risk_difference(7, 34, 1, 34)
    assert newcombe.ci == pytest.approx((0.019, 0.34), abs=0.0051)
    wald = stats.risk_difference(7, 34, 1, 34, method="wald")
    assert wald.ci == pytest.approx((0.029, 0.32), abs=0.0051)


def test_rank_biserial_follows_from_r_w() -> None:
    # R docs ?wilcox.test: W = 35 for n = 10 vs 5, so r = 2 * 35 / 50 - 1 = 0.4
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    assert stats.rank_biserial(x, y, paired=False).value == pytest.approx(0.4)


def test_mean_proportion_ci_is_wilson_on_the_df_adjusted_effective_n() -> None:
    # Worked by hand: 4 items x 3 repeats with shares 2/3, 2/3, 0, 1. p = 7/12, the SE of the
    # mean of item shares is s / 2; n_eff = p(1 - p) / SE^2, scaled by (t_11 / t_3)^2 at 95%
    # (Korn & Graubard 1998's degrees-of-freedom adjustment), then Wilson's formula.
    shares = np.array([2 / 3, 2 / 3, 0.0, 1.0])
    p = 7 / 12
    se2 = float(np.var(shares, ddof=1)) / 4
    n_eff = p * (1 - p) / se2 * (2.200985160082949 / 3.182446305284263) ** 2
    z = 1.959963984540054
    centre = (p + z**2 / (2 * n_eff)) / (1 + z**2 / n_eff)
    half = z / (1 + z**2 / n_eff) * math.sqrt(p * (1 - p) / n_eff + z**2 / (4 * n_eff**2))
    r = stats.mean_proportion_ci([[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 1]])
    assert r.ci == pytest.approx((centre - half, centre + half), rel=1e-9)
    assert r.method == "Wilson, effective n"
    assert (r.n, r.df) == (4, 3)
    # with every item alike there is no SE: the effective n is the number of items
    alike = stats.mean_proportion_ci([0.0, 0.0, 0.0, 0.0], n_trials=12)
    assert alike.ci == pytest.approx(stats.proportion_ci(0, 4).ci, rel=1e-12)
