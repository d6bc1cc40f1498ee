"""Paired tests on per-item differences d = a - b (complete pairs only).

Conventions follow R: the Wilcoxon signed-rank statistic is V (the sum of the ranks of the
positive differences), zero differences are dropped, the exact distribution is used when
fewer than 50 differences remain and none tie (unless `exact` says otherwise), and the normal
approximation carries a continuity correction by default.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from pytest_crucible.stats._inputs import (
    NAN,
    FloatArray,
    IntArray,
    Options,
    Outcome,
    Run,
    compact,
    mean_se,
    no_variation,
    t_interval,
    t_p_value,
)
from pytest_crucible.stats._intervals import hodges_lehmann, tango_interval

__all__ = ["mcnemar", "paired_bootstrap", "paired_t", "run_paired", "sign_flip", "wilcoxon"]

_EXACT_ENUMERATION = 2**16


def run_paired(
    test: str,
    x: FloatArray,
    y: FloatArray,
    diff: FloatArray,
    codes: IntArray | None,
    options: Options,
) -> Run:
    se, df, _ = mean_se(diff, codes)
    estimate = float(diff.mean()) if diff.size else NAN
    ci = t_interval(estimate, se, df, options.level, options.alternative)
    ci_method = "paired t" if codes is None else "paired t, cluster-robust SE (CR1)"
    degenerate = degenerate_paired(test, diff, options.alternative)
    if degenerate is not None:
        return Run(degenerate, ci, se, ci_method)
    alt = options.alternative
    if test == "mcnemar":
        exact = True if options.exact is None else options.exact
        n10, n01 = int(np.sum((x == 1) & (y == 0))), int(np.sum((x == 0) & (y == 1)))
        score_ci = tango_interval(n10, n01, diff.size, options.level, alt)
        outcome = mcnemar(x, y, alt, exact, options.correction)
        return Run(outcome, score_ci, se, "Tango score")
    if test == "wilcoxon":
        outcome = wilcoxon(diff, alt, options.exact, options.correction)
        centre, hl_ci, hl_method = hodges_lehmann(diff, options.level, alt, options.correction)
        return Run(outcome, hl_ci, se, hl_method, centre)
    if test == "permutation":
        outcome = sign_flip(diff, codes, alt, options.n_resamples, options.seed)
        return Run(outcome, ci, se, ci_method)
    if test == "bootstrap":
        outcome, boot_ci, boot_se = paired_bootstrap(
            diff, codes, alt, options.level, options.n_resamples, options.seed
        )
        return Run(outcome, boot_ci, boot_se, "bootstrap percentile")
    outcome = paired_t(diff, codes, alt)
    if codes is not None and not math.isfinite(se):
        outcome = with_note(outcome, "fewer than 2 clusters: no cluster-robust test possible")
    return Run(outcome, ci, se, ci_method)


def degenerate_paired(test: str, diff: FloatArray, alternative: str) -> Outcome | None:
    n = diff.size
    if n == 0:
        why = "no complete pairs: nothing to compare (check that both conditions ran)"
        return Outcome(NAN, None, NAN, "none", (why,))
    if test == "mcnemar":
        return None
    if n == 1:
        return Outcome(NAN, None, NAN, "none", ("one pair: a test needs at least 2 items",))
    if np.all(diff == 0):
        why = "a and b are equal on every item: no difference to test (p = 1)"
        return Outcome(0.0, None, 1.0, "no variation", (why,))
    if test == "paired_t" and no_variation(diff):
        p = sps.binomtest(int(np.sum(diff > 0)), n, 0.5, alternative=alternative).pvalue
        why = (
            f"every difference equals {diff[0]:.6g}: the t statistic is undefined, so the "
            "exact sign test is reported instead"
        )
        return Outcome(NAN, None, float(p), "exact sign test", (why,))
    return None


def with_note(outcome: Outcome, note: str) -> Outcome:
    return Outcome(outcome.statistic, outcome.df, outcome.p_value, outcome.method, (note,))


def paired_t(diff: FloatArray, codes: IntArray | None, alternative: str) -> Outcome:
    """Paired t-test of mean(d) = 0; with cluster codes the SE is cluster-robust (df = G-1)."""
    if codes is None:
        result = sps.ttest_1samp(diff, 0.0, alternative=alternative)
        return Outcome(float(result.statistic), float(result.df), float(result.pvalue), "paired t")
    se, df, _ = mean_se(diff, codes)
    t_stat = float(diff.mean()) / se if se > 0 else math.nan
    return Outcome(t_stat, df, t_p_value(t_stat, df, alternative), "paired t, clustered SE")


def wilcoxon(diff: FloatArray, alternative: str, exact: bool | None, correction: bool) -> Outcome:
    """Wilcoxon signed-rank test; statistic V as in R's wilcox.test."""
    nonzero = diff[diff != 0]
    n = nonzero.size
    ranks = sps.rankdata(np.abs(nonzero))
    v_stat = float(ranks[nonzero > 0].sum())
    ties = bool(np.unique(np.abs(nonzero)).size < n)
    zeros = n < diff.size
    notes: list[str] = []
    if zeros:
        notes.append(f"{diff.size - n} zero difference(s) dropped (R's convention)")
    use_exact = (n < 50) if exact is None else exact
    if use_exact and (ties or zeros):
        use_exact = False
        notes.append("ties or zeros: exact p-value impossible, normal approximation used")
    if use_exact:
        p = sps.wilcoxon(nonzero, alternative=alternative, method="exact").pvalue
        return Outcome(v_stat, None, float(p), "Wilcoxon signed-rank exact", tuple(notes))
    result = sps.wilcoxon(
        nonzero, correction=correction, alternative=alternative, method="asymptotic"
    )
    method = "Wilcoxon signed-rank, normal approx." + (" (cc)" if correction else "")
    return Outcome(v_stat, None, float(result.pvalue), method, tuple(notes))


def mcnemar(
    x: FloatArray, y: FloatArray, alternative: str, exact: bool, correction: bool
) -> Outcome:
    """McNemar's test on the discordant pairs of paired 0/1 outcomes.

    statistic: n10 (pairs where a = 1 and b = 0) for the exact test; chi-squared (two-sided)
    or z (one-sided) for the asymptotic one.
    """
    n10 = int(np.sum((x == 1) & (y == 0)))
    n01 = int(np.sum((x == 0) & (y == 1)))
    discordant = n10 + n01
    if discordant == 0:
        note = "no discordant pairs: a and b gave the same outcome on every item (p = 1)"
        name = "McNemar exact" if exact else "McNemar chi-squared"
        return Outcome(0.0, None if exact else 1.0, 1.0, name, (note,))
    if exact:
        p = sps.binomtest(n10, discordant, 0.5, alternative=alternative).pvalue
        return Outcome(float(n10), None, float(p), "McNemar exact")
    shift = 1.0 if correction else 0.0
    suffix = " (cc)" if correction else ""
    if alternative == "two-sided":
        chi2 = (abs(n10 - n01) - shift) ** 2 / discordant
        return Outcome(chi2, 1.0, float(sps.chi2.sf(chi2, 1)), "McNemar chi-squared" + suffix)
    sign = 1.0 if alternative == "greater" else -1.0
    z = (n10 - n01 - sign * shift) / math.sqrt(discordant)
    p = sps.norm.sf(z) if alternative == "greater" else sps.norm.cdf(z)
    return Outcome(z, None, float(p), "McNemar z (one-sided)" + suffix)


def sign_flip(
    diff: FloatArray,
    codes: IntArray | None,
    alternative: str,
    n_resamples: int,
    seed: int | None,
) -> Outcome:
    """Permutation test flipping the sign of each pair's (or each cluster's) difference.

    Exact enumeration of all 2^G sign patterns when G <= 16 (or 2^G <= n_resamples), else a
    seeded Monte Carlo with p = (count + 1) / (resamples + 1).
    """
    totals = diff if codes is None else _cluster_totals(diff, codes)[0]
    groups = totals.size
    observed = float(totals.sum())
    tolerance = 1e-9 * max(1.0, float(np.abs(totals).sum()))
    if 2**groups <= max(n_resamples, _EXACT_ENUMERATION):
        bits = (np.arange(2**groups)[:, None] >> np.arange(groups)) & 1
        sums = (1 - 2 * bits) @ totals
        count = _extreme(sums, observed, alternative, tolerance)
        unit = "clusters" if codes is not None else "pairs"
        method = f"sign-flip permutation, exact ({2**groups} patterns of {groups} {unit})"
        return Outcome(observed / diff.size, None, count / sums.size, method)
    rng = np.random.default_rng(seed)
    count = 0
    for size in _batches(n_resamples, groups):
        signs = rng.integers(0, 2, size=(size, groups), dtype=np.int8) * 2 - 1
        count += _extreme(signs @ totals, observed, alternative, tolerance)
    method = f"sign-flip permutation, {n_resamples} random patterns"
    return Outcome(observed / diff.size, None, (count + 1) / (n_resamples + 1), method)


def paired_bootstrap(
    diff: FloatArray,
    codes: IntArray | None,
    alternative: str,
    level: float,
    n_resamples: int,
    seed: int | None,
) -> tuple[Outcome, tuple[float, float], float]:
    """Bootstrap of mean(d) resampling items (or whole clusters): test, percentile CI, SE.

    The p-value is that of the centred bootstrap distribution: the share of resampled
    estimates at least as far from the estimate as the estimate is from 0.
    """
    if codes is None:
        totals, sizes = diff, np.ones_like(diff)
    else:
        totals, sizes = _cluster_totals(diff, codes)
    rng = np.random.default_rng(seed)
    boot = np.empty(n_resamples)
    start = 0
    for size in _batches(n_resamples, totals.size):
        index = rng.integers(0, totals.size, size=(size, totals.size))
        boot[start : start + size] = totals[index].sum(axis=1) / sizes[index].sum(axis=1)
        start += size
    estimate = float(diff.mean())
    centred = boot - estimate
    count = _extreme(centred, estimate, alternative, 1e-12 * max(1.0, abs(estimate)))
    p_value = (count + 1) / (n_resamples + 1)
    unit = "clusters" if codes is not None else "items"
    outcome = Outcome(estimate, None, p_value, f"bootstrap ({n_resamples} resamples of {unit})")
    return outcome, percentile_interval(boot, level, alternative), float(np.std(boot, ddof=1))


def percentile_interval(boot: FloatArray, level: float, alternative: str) -> tuple[float, float]:
    """Percentile interval of bootstrap estimates (one-sided for a one-sided alternative)."""
    if alternative == "greater":
        return (float(np.quantile(boot, 1 - level)), math.inf)
    if alternative == "less":
        return (-math.inf, float(np.quantile(boot, level)))
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return (float(low), float(high))


def _extreme(values: FloatArray, observed: float, alternative: str, tolerance: float) -> int:
    if alternative == "greater":
        return int(np.sum(values >= observed - tolerance))
    if alternative == "less":
        return int(np.sum(values <= observed + tolerance))
    return int(np.sum(np.abs(values) >= abs(observed) - tolerance))


def _cluster_totals(diff: FloatArray, codes: IntArray) -> tuple[FloatArray, FloatArray]:
    compacted, groups = compact(codes)
    totals = np.bincount(compacted, weights=diff, minlength=groups).astype(np.float64)
    sizes = np.bincount(compacted, minlength=groups).astype(np.float64)
    return totals, sizes


def _batches(total: int, width: int) -> list[int]:
    """Batch sizes whose batch x width arrays stay near 2 million elements."""
    step = max(1, 2_000_000 // max(1, width))
    return [min(step, total - start) for start in range(0, total, step)]
