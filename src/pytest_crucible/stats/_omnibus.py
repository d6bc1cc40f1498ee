"""Omnibus tests: do k conditions share one mean (or location)?

Tests: "anova" (one-way, equal variances), "welch_anova", "kruskal" (Kruskal-Wallis) for
independent groups; "friedman" and "cochran_q" (0/1 outcomes) for paired data (every
condition on the same items). "auto": paired 0/1 -> Cochran's Q, paired otherwise ->
Friedman; independent groups that all look normal -> Welch ANOVA, otherwise Kruskal-Wallis.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import cochrans_q

from pytest_crucible.errors import StatsError
from pytest_crucible.stats._compare import normality
from pytest_crucible.stats._inputs import (
    NAN,
    ArrayLike,
    FloatArray,
    finite,
    is_binary,
    item_values,
    no_variation,
)
from pytest_crucible.stats._results import EffectSize, OmnibusResult

__all__ = ["OMNIBUS_TESTS", "omnibus"]

OMNIBUS_TESTS = ("auto", "anova", "welch_anova", "kruskal", "friedman", "cochran_q")
_PAIRED_TESTS = ("friedman", "cochran_q")
_NAMES = {
    "anova": "one-way ANOVA",
    "welch_anova": "Welch ANOVA",
    "kruskal": "Kruskal-Wallis",
    "friedman": "Friedman",
    "cochran_q": "Cochran's Q",
}


def omnibus(
    groups: Sequence[ArrayLike] | Mapping[str, ArrayLike],
    paired: bool,
    test: str = "auto",
    normality_alpha: float = 0.05,
) -> OmnibusResult:
    """Test that all k >= 2 groups share one mean (or location), with effect sizes.

    groups: one array per condition (per-item values, or items x repeats arrays averaged
    within items). paired: every group holds the same items in the same order; items missing
    in any group are dropped (complete cases). Effect sizes: eta squared and omega squared for
    the ANOVAs, eta squared from H for Kruskal-Wallis, Kendall's W for Friedman and Cochran's Q.
    """
    if test not in OMNIBUS_TESTS:
        raise StatsError(f"test={test!r} is unknown; use one of {', '.join(OMNIBUS_TESTS)}")
    arrays = list(groups.values()) if isinstance(groups, Mapping) else list(groups)
    if len(arrays) < 2:
        raise StatsError(f"omnibus needs at least 2 groups; got {len(arrays)}")
    values = [item_values(g, f"group {i + 1}").values for i, g in enumerate(arrays)]
    if paired:
        return _paired(values, test)
    if test in _PAIRED_TESTS:
        raise StatsError(f"test={test!r} needs paired=True (the same items in every group)")
    return _independent([finite(v) for v in values], test, normality_alpha)


def _paired(values: list[FloatArray], test: str) -> OmnibusResult:
    if len({v.size for v in values}) > 1:
        sizes = ", ".join(str(v.size) for v in values)
        raise StatsError(f"paired=True needs one value per item in every group; got {sizes}")
    if test not in ("auto", *_PAIRED_TESTS):
        raise StatsError(f"test={test!r} is for independent groups; use 'friedman' or 'cochran_q'")
    table = np.column_stack(values)
    complete = table[~np.isnan(table).any(axis=1)]
    dropped = table.shape[0] - complete.shape[0]
    notes = [f"{dropped} item(s) missing in some group dropped (complete cases)"] if dropped else []
    binary = is_binary(complete.ravel())
    if test == "auto":
        test = "cochran_q" if binary else "friedman"
        reason = "paired 0/1 outcomes: Cochran's Q" if binary else "paired scores: Friedman"
    else:
        reason = "requested"
    if test == "cochran_q" and not binary:
        raise StatsError("test='cochran_q' needs 0/1 outcomes; use 'friedman' for scores")
    n, k = complete.shape
    degenerate = _degenerate(complete, n, test, notes)
    if degenerate is not None:
        return _result(test, degenerate, (), k, n, True, reason, dropped, notes)
    if k < 3 and test == "friedman":
        raise StatsError("friedman needs 3+ conditions; compare two conditions with compare()")
    if test == "cochran_q":
        res = cochrans_q(complete)
        stat, df, p = float(res.statistic), float(res.df), float(res.pvalue)
    else:
        res = sps.friedmanchisquare(*complete.T)
        stat, df, p = float(res.statistic), float(k - 1), float(res.pvalue)
    w = EffectSize("kendalls_w", stat / (n * (k - 1)), method="statistic / (n (k - 1))")
    return _result(test, (stat, (df,), p), (w,), k, n, True, reason, dropped, notes)


def _independent(values: list[FloatArray], test: str, alpha: float) -> OmnibusResult:
    notes: list[str] = []
    if empty := [i + 1 for i, v in enumerate(values) if v.size == 0]:
        notes.append(f"group(s) {empty} have no values and were left out")
        values = [v for v in values if v.size]
    k, n = len(values), sum(v.size for v in values)
    reason = "requested"
    if test == "auto":
        checks = [normality(v, alpha, "a group") for v in values]
        normal = all(c is not None and c.passed for c in checks)
        test = "welch_anova" if normal else "kruskal"
        reason = "all groups look normal: Welch ANOVA" if normal else "a group is not normal"
    pooled = np.concatenate(values) if values else np.empty(0)
    degenerate = _degenerate_groups(values, pooled, test, notes)
    if degenerate is not None:
        return _result(test, degenerate, (), k, n, False, reason, 0, notes)
    if test == "kruskal":
        res = sps.kruskal(*values)
        stat, p = float(res.statistic), float(res.pvalue)
        eta = EffectSize("eta_squared", (stat - k + 1) / (n - k), method="(H - k + 1) / (n - k)")
        return _result(test, (stat, (k - 1.0,), p), (eta,), k, n, False, reason, 0, notes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sps.f_oneway(*values, equal_var=test == "anova")
    df = (float(k - 1), _welch_df(values) if test == "welch_anova" else float(n - k))
    stat, p = float(res.statistic), float(res.pvalue)
    return _result(test, (stat, df, p), _anova_effects(values), k, n, False, reason, 0, notes)


def _welch_df(values: list[FloatArray]) -> float:
    """Denominator df of Welch's F: (k^2 - 1) / (3 sum (1 - w_i/W)^2 / (n_i - 1))."""
    k = len(values)
    weights = np.array([v.size / v.var(ddof=1) for v in values])
    share = weights / weights.sum()
    sizes = np.array([v.size for v in values], dtype=np.float64)
    return float((k**2 - 1) / (3 * np.sum((1 - share) ** 2 / (sizes - 1))))


def _anova_effects(values: list[FloatArray]) -> tuple[EffectSize, ...]:
    pooled = np.concatenate(values)
    k, n = len(values), pooled.size
    ss_total = float(((pooled - pooled.mean()) ** 2).sum())
    ss_between = float(sum(v.size * (v.mean() - pooled.mean()) ** 2 for v in values))
    ms_within = (ss_total - ss_between) / (n - k) if n > k else NAN
    eta = EffectSize("eta_squared", ss_between / ss_total, method="SS_between / SS_total")
    omega = (ss_between - (k - 1) * ms_within) / (ss_total + ms_within)
    return eta, EffectSize("omega_squared", omega, method="(SSb - (k-1) MSw) / (SSt + MSw)")


def _degenerate(
    table: FloatArray, n: int, test: str, notes: list[str]
) -> tuple[float, tuple[float, ...], float] | None:
    k = table.shape[1]
    if n < 2:
        notes.append(f"{n} complete item(s): an omnibus test needs at least 2")
        return (NAN, (float(k - 1),), NAN)
    if np.all(table == table[:, :1]):
        notes.append("every item scored the same under all conditions: no difference (p = 1)")
        return (0.0, (float(k - 1),), 1.0)
    return None


def _degenerate_groups(
    values: list[FloatArray], pooled: FloatArray, test: str, notes: list[str]
) -> tuple[float, tuple[float, ...], float] | None:
    k = len(values)
    if k < 2:
        notes.append("fewer than 2 groups with values: nothing to compare")
        return (NAN, (), NAN)
    if pooled.size <= k:
        notes.append("no group has 2+ values: no within-group variation to test against")
        return (NAN, (float(k - 1),), NAN)
    if no_variation(pooled):
        notes.append("every value is the same: no difference (p = 1)")
        return (0.0, (float(k - 1),), 1.0)
    if test != "kruskal" and all(no_variation(v) for v in values):
        notes.append("no variation within any group: F is undefined; use test='kruskal'")
        return (NAN, (float(k - 1),), NAN)
    if test == "welch_anova" and any(v.size < 2 or no_variation(v) for v in values):
        notes.append("a group has fewer than 2 distinct values: Welch ANOVA is undefined")
        return (NAN, (float(k - 1),), NAN)
    return None


def _result(
    test: str,
    stat_df_p: tuple[float, tuple[float, ...], float],
    effects: tuple[EffectSize, ...],
    k: int,
    n: int,
    paired: bool,
    reason: str,
    dropped: int,
    notes: list[str],
) -> OmnibusResult:
    stat, df, p = stat_df_p
    return OmnibusResult(
        test, _NAMES[test], stat, df, p, effects, k, n, paired, reason, dropped, tuple(notes)
    )
