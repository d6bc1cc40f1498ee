"""Tests of two independent samples (a and b hold different items)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from pytest_crucible.stats._inputs import NAN, FloatArray, Options, Outcome, Run, no_variation
from pytest_crucible.stats._paired import percentile_interval

__all__ = [
    "mann_whitney",
    "run_unpaired",
    "two_sample_t",
    "unpaired_bootstrap",
    "unpaired_permutation",
]


def run_unpaired(test: str, x: FloatArray, y: FloatArray, options: Options) -> Run:
    alt, level = options.alternative, options.level
    degenerate = degenerate_unpaired(test, x, y, alt)
    equal_var = test == "student"
    ci_method = "Student t" if equal_var else "Welch t"
    if degenerate is not None:
        ci, se = _t_ci(x, y, equal_var, alt, level)
        return Run(degenerate, ci, se, ci_method)
    if test in ("welch", "student"):
        outcome, ci, se = two_sample_t(x, y, equal_var, alt, level)
        return Run(outcome, ci, se, ci_method)
    if test == "bootstrap":
        outcome, ci, se = unpaired_bootstrap(x, y, alt, level, options.n_resamples, options.seed)
        return Run(outcome, ci, se, "bootstrap percentile")
    ci, se = _t_ci(x, y, False, alt, level)
    if test == "permutation":
        outcome = unpaired_permutation(x, y, alt, options.n_resamples, options.seed)
        return Run(outcome, ci, se, ci_method)
    outcome = mann_whitney(x, y, alt, options.exact, options.correction)
    return Run(outcome, ci, se, ci_method)


def degenerate_unpaired(
    test: str, x: FloatArray, y: FloatArray, alternative: str
) -> Outcome | None:
    if x.size == 0 or y.size == 0:
        why = "an empty group: nothing to compare (check that both conditions ran)"
        return Outcome(NAN, None, NAN, "none", (why,))
    if test in ("welch", "student") and min(x.size, y.size) < 2:
        why = "a group has one value: a t-test needs at least 2 per group"
        return Outcome(NAN, None, NAN, "none", (why,))
    if no_variation(x) and no_variation(y):
        if no_variation(np.concatenate([x, y])):
            why = "every value in a and b is the same: no difference to test (p = 1)"
            return Outcome(0.0, None, 1.0, "no variation", (why,))
        if test in ("welch", "student"):
            result = sps.mannwhitneyu(x, y, alternative=alternative, method="exact")
            why = "no variation within either group: t is undefined; exact Mann-Whitney shown"
            return Outcome(
                float(result.statistic), None, float(result.pvalue), "exact rank test", (why,)
            )
    return None


def _t_ci(
    x: FloatArray, y: FloatArray, equal_var: bool, alternative: str, level: float
) -> tuple[tuple[float, float], float]:
    if min(x.size, y.size) < 2 or (no_variation(x) and no_variation(y)):
        return (NAN, NAN), NAN
    _, ci, se = two_sample_t(x, y, equal_var, alternative, level)
    return ci, se


def two_sample_t(
    x: FloatArray, y: FloatArray, equal_var: bool, alternative: str, level: float
) -> tuple[Outcome, tuple[float, float], float]:
    """Welch's (equal_var=False) or Student's t-test, with the CI of mean(x) - mean(y) and SE."""
    result = sps.ttest_ind(x, y, equal_var=equal_var, alternative=alternative)
    interval = result.confidence_interval(level)
    if equal_var:
        df = x.size + y.size - 2
        pooled = ((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / df
        se = math.sqrt(pooled * (1 / x.size + 1 / y.size))
    else:
        se = math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    method = "Student t" if equal_var else "Welch t"
    outcome = Outcome(float(result.statistic), float(result.df), float(result.pvalue), method)
    return outcome, (float(interval.low), float(interval.high)), se


def mann_whitney(
    x: FloatArray, y: FloatArray, alternative: str, exact: bool | None, correction: bool
) -> Outcome:
    """Mann-Whitney U (R's Wilcoxon rank-sum W = U of x): exact below 50 per group w/o ties."""
    ties = np.unique(np.concatenate([x, y])).size < x.size + y.size
    use_exact = (x.size < 50 and y.size < 50) if exact is None else exact
    notes: tuple[str, ...] = ()
    if use_exact and ties:
        use_exact = False
        notes = ("ties: exact p-value impossible, normal approximation used",)
    method = "exact" if use_exact else "asymptotic"
    result = sps.mannwhitneyu(
        x, y, use_continuity=correction, alternative=alternative, method=method
    )
    name = "Mann-Whitney U exact" if use_exact else "Mann-Whitney U, normal approx."
    if not use_exact and correction:
        name += " (cc)"
    return Outcome(float(result.statistic), None, float(result.pvalue), name, notes)


def unpaired_permutation(
    x: FloatArray, y: FloatArray, alternative: str, n_resamples: int, seed: int | None
) -> Outcome:
    """Permutation test of mean(x) - mean(y) reassigning values to groups (exact when small)."""

    def statistic(u: FloatArray, v: FloatArray, axis: int) -> FloatArray:
        return np.asarray(np.mean(u, axis=axis) - np.mean(v, axis=axis))

    result = sps.permutation_test(
        (x, y),
        statistic,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_resamples,
        alternative=alternative,
        rng=np.random.default_rng(seed),
    )
    total = math.comb(x.size + y.size, x.size)
    kind = "exact" if total <= n_resamples else f"{n_resamples} random relabellings"
    return Outcome(float(result.statistic), None, float(result.pvalue), f"permutation, {kind}")


def unpaired_bootstrap(
    x: FloatArray,
    y: FloatArray,
    alternative: str,
    level: float,
    n_resamples: int,
    seed: int | None,
) -> tuple[Outcome, tuple[float, float], float]:
    """Bootstrap of mean(x) - mean(y) resampling each group: centred test, percentile CI, SE."""
    rng = np.random.default_rng(seed)
    boot = np.empty(n_resamples)
    step = max(1, 2_000_000 // (x.size + y.size))
    for start in range(0, n_resamples, step):
        size = min(step, n_resamples - start)
        mean_x = x[rng.integers(0, x.size, size=(size, x.size))].mean(axis=1)
        mean_y = y[rng.integers(0, y.size, size=(size, y.size))].mean(axis=1)
        boot[start : start + size] = mean_x - mean_y
    estimate = float(x.mean() - y.mean())
    centred = boot - estimate
    if alternative == "greater":
        count = int(np.sum(centred >= estimate))
    elif alternative == "less":
        count = int(np.sum(centred <= estimate))
    else:
        count = int(np.sum(np.abs(centred) >= abs(estimate)))
    p_value = (count + 1) / (n_resamples + 1)
    outcome = Outcome(estimate, None, p_value, f"bootstrap ({n_resamples} resamples per group)")
    return outcome, percentile_interval(boot, level, alternative), float(np.std(boot, ddof=1))
