"""Compare two conditions: `compare(a, b, paired)` estimates mean(a) - mean(b) and tests it.

Paired data (the same items under both conditions) are compared per item on d = a - b;
repeats (an items x repeats array) are averaged within each item first; with `clusters=`
the comparison uses a cluster-robust SE, or flips / resamples whole clusters.

`test="auto"` chooses from the data and records why:
- clusters given -> paired t with a cluster-robust (CR1) SE on G - 1 df;
- paired 0/1 outcomes -> McNemar exact;
- paired continuous -> paired t when the differences look normal (Shapiro-Wilk, or
  D'Agostino-Pearson above 5,000 pairs, at `normality_alpha`), else Wilcoxon signed-rank;
- unpaired -> Welch t when both groups look normal, else Mann-Whitney U.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from pytest_crucible.errors import StatsError
from pytest_crucible.stats import _paired, _unpaired
from pytest_crucible.stats._effect_size import (
    dz_from_differences,
    hedges_g,
    odds_ratio,
    rank_biserial_paired,
)
from pytest_crucible.stats._inputs import (
    NAN,
    ArrayLike,
    FloatArray,
    IntArray,
    Items,
    Options,
    Outcome,
    Run,
    check_alternative,
    check_level,
    cluster_codes,
    finite,
    is_binary,
    item_values,
    no_variation,
)
from pytest_crucible.stats._results import Check, Comparison, EffectSize

__all__ = ["TESTS", "compare"]

TESTS = (
    "auto",
    "welch",
    "student",
    "paired_t",
    "mann_whitney",
    "wilcoxon",
    "mcnemar",
    "permutation",
    "bootstrap",
)
_PAIRED_ONLY = ("paired_t", "wilcoxon", "mcnemar")
_UNPAIRED_ONLY = ("welch", "student", "mann_whitney")
_CLUSTER_READY = ("auto", "paired_t", "permutation", "bootstrap")


def compare(
    a: ArrayLike,
    b: ArrayLike,
    paired: bool,
    test: str = "auto",
    alternative: str = "two-sided",
    level: float = 0.95,
    clusters: ArrayLike | Sequence[Any] | None = None,
    *,
    exact: bool | None = None,
    correction: bool = True,
    n_resamples: int = 9999,
    seed: int | None = 0,
    normality_alpha: float = 0.05,
) -> Comparison:
    """Compare a with b; the estimate is mean(a) - mean(b) ("greater": a scores higher).

    a, b: per-item values, or items x repeats arrays (repeats averaged within each item).
    paired: True when a[i] and b[i] are the same item. Missing values drop their pair
    (complete cases; the count is in `n_dropped` and `notes`).
    test: one of TESTS. exact: None follows R (Wilcoxon and Mann-Whitney exact below 50
    values without ties; McNemar exact), True/False forces it. correction: continuity
    correction of the normal and chi-squared approximations (R's default True).
    n_resamples, seed: for "permutation" and "bootstrap" (seeded, reproducible).
    """
    check_level(level)
    check_alternative(alternative)
    if test not in TESTS:
        raise StatsError(f"test={test!r} is unknown; use one of {', '.join(TESTS)}")
    if n_resamples < 1:
        raise StatsError(f"n_resamples={n_resamples} must be at least 1 (e.g. 9999)")
    options = Options(alternative, level, exact, correction, n_resamples, seed, normality_alpha)
    items_a, items_b = item_values(a, "a"), item_values(b, "b")
    if paired:
        return _compare_paired(items_a, items_b, test, clusters, options)
    if clusters is not None:
        raise StatsError(
            "clusters= needs paired=True (both conditions on the same clustered items); for "
            "independent samples average each cluster first and compare the cluster means"
        )
    return _compare_unpaired(items_a, items_b, test, options)


def _compare_paired(
    items_a: Items,
    items_b: Items,
    test: str,
    clusters: ArrayLike | Sequence[Any] | None,
    options: Options,
) -> Comparison:
    n_items = items_a.values.size
    if items_b.values.size != n_items:
        raise StatsError(
            f"paired=True needs one value per item in both a and b; got {n_items} and "
            f"{items_b.values.size} items (mark a missing value with NaN instead)"
        )
    codes = None if clusters is None else cluster_codes(clusters, n_items)
    keep = ~np.isnan(items_a.values) & ~np.isnan(items_b.values)
    x, y = items_a.values[keep], items_b.values[keep]
    codes = None if codes is None else codes[keep]
    dropped = n_items - int(keep.sum())
    notes = [*items_a.notes, *items_b.notes]
    if dropped:
        notes.append(
            f"{dropped} of {n_items} items missing in a or b were dropped "
            f"(complete cases: {x.size} pairs)"
        )
    _check_paired_request(test, x, y, codes)
    diff = x - y
    if test == "auto":
        chosen, reason, checks = _choose_paired(x, y, diff, codes, options.normality_alpha)
    else:
        chosen, reason, checks = test, "requested", ()
    run = _paired.run_paired(chosen, x, y, diff, codes, options)
    return _comparison(
        (chosen, reason, checks),
        run,
        options,
        x,
        y,
        estimate=float(diff.mean()) if diff.size else NAN,
        effect_size=_paired_effect(chosen, x, y, diff, options.level),
        paired=True,
        n_clusters=None if codes is None else int(np.unique(codes).size),
        dropped=dropped,
        notes=notes,
    )


def _check_paired_request(test: str, x: FloatArray, y: FloatArray, codes: IntArray | None) -> None:
    if test in _UNPAIRED_ONLY:
        raise StatsError(
            f"test={test!r} is for independent samples; with paired=True use 'paired_t', "
            "'wilcoxon', 'mcnemar', 'permutation' or 'bootstrap' (or paired=False)"
        )
    if codes is not None and test not in _CLUSTER_READY:
        raise StatsError(
            f"test={test!r} ignores clusters and would overstate the evidence; with "
            "clusters= use 'paired_t' (cluster-robust SE), 'permutation' (flips whole "
            "clusters) or 'bootstrap' (resamples whole clusters)"
        )
    if test == "mcnemar" and not (is_binary(x) and is_binary(y)):
        raise StatsError(
            "test='mcnemar' needs 0/1 outcomes in both a and b (one per item; repeats that "
            "average to fractions are not 0/1); use 'paired_t' or 'wilcoxon' for scores"
        )


def _choose_paired(
    x: FloatArray, y: FloatArray, diff: FloatArray, codes: IntArray | None, alpha: float
) -> tuple[str, str, tuple[Check, ...]]:
    if codes is not None:
        return "paired_t", "items share clusters: paired t with a cluster-robust SE", ()
    if is_binary(x) and is_binary(y):
        return "mcnemar", "paired 0/1 outcomes: McNemar exact test on discordant pairs", ()
    check = normality(diff, alpha, "differences")
    if check is None:
        return "paired_t", "too few distinct differences to check normality: paired t", ()
    if check.passed:
        return "paired_t", f"differences look normal ({check.detail}): paired t", (check,)
    return "wilcoxon", f"differences do not look normal ({check.detail}): Wilcoxon", (check,)


def normality(values: FloatArray, alpha: float, what: str) -> Check | None:
    """Shapiro-Wilk (D'Agostino-Pearson above 5,000 values) check; None when not testable."""
    if values.size < 3 or no_variation(values):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if values.size <= 5000:
            name, result = "Shapiro-Wilk", sps.shapiro(values)
        else:
            name, result = "D'Agostino-Pearson", sps.normaltest(values)
    p = float(result.pvalue)
    detail = f"{name} p = {p:.3g}"
    return Check(f"{name} on {what}", float(result.statistic), p, p >= alpha, detail)


def _paired_effect(
    test: str, x: FloatArray, y: FloatArray, diff: FloatArray, level: float
) -> EffectSize:
    if test == "mcnemar":
        n10 = int(np.sum((x == 1) & (y == 0)))
        n01 = int(np.sum((x == 0) & (y == 1)))
        return odds_ratio([[0, n10], [n01, 0]], paired=True, level=level)
    if test == "wilcoxon" and diff.size:
        return rank_biserial_paired(diff)
    return dz_from_differences(diff, level)


def _compare_unpaired(items_a: Items, items_b: Items, test: str, options: Options) -> Comparison:
    if test in _PAIRED_ONLY:
        raise StatsError(
            f"test={test!r} needs paired data (paired=True); for independent samples use "
            "'welch', 'student', 'mann_whitney', 'permutation' or 'bootstrap'"
        )
    x, y = finite(items_a.values), finite(items_b.values)
    notes = [*items_a.notes, *items_b.notes]
    dropped = items_a.values.size - x.size + items_b.values.size - y.size
    if dropped:
        notes.append(f"{dropped} missing value(s) dropped")
    if test == "auto":
        chosen, reason, checks = _choose_unpaired(x, y, options.normality_alpha)
    else:
        chosen, reason, checks = test, "requested", ()
    run = _unpaired.run_unpaired(chosen, x, y, options)
    effect = (
        _rank_biserial_unpaired(x, y, run.outcome)
        if chosen == "mann_whitney"
        else hedges_g(x, y, options.level)
    )
    return _comparison(
        (chosen, reason, checks),
        run,
        options,
        x,
        y,
        estimate=float(x.mean() - y.mean()) if x.size and y.size else NAN,
        effect_size=effect,
        paired=False,
        n_clusters=None,
        dropped=dropped,
        notes=notes,
    )


def _comparison(
    choice: tuple[str, str, tuple[Check, ...]],
    run: Run,
    options: Options,
    x: FloatArray,
    y: FloatArray,
    *,
    estimate: float,
    effect_size: EffectSize,
    paired: bool,
    n_clusters: int | None,
    dropped: int,
    notes: list[str],
) -> Comparison:
    """The record of one comparison of x (from a) with y (from b), paired or not."""
    chosen, reason, checks = choice
    return Comparison(
        test=chosen,
        method=run.outcome.method,
        statistic=run.outcome.statistic,
        df=run.outcome.df,
        p_value=run.outcome.p_value,
        estimate=estimate,
        se=run.se,
        ci=run.ci,
        ci_method=run.ci_method,
        level=options.level,
        alternative=options.alternative,
        effect_size=effect_size,
        paired=paired,
        n=int(x.size) if paired else int(x.size + y.size),
        n_a=int(x.size),
        n_b=int(y.size),
        mean_a=float(x.mean()) if x.size else NAN,
        mean_b=float(y.mean()) if y.size else NAN,
        n_clusters=n_clusters,
        n_dropped=dropped,
        reason=reason,
        checks=checks,
        notes=(*notes, *run.outcome.notes),
        ci_estimate=run.ci_estimate,
    )


def _choose_unpaired(
    x: FloatArray, y: FloatArray, alpha: float
) -> tuple[str, str, tuple[Check, ...]]:
    checks = tuple(c for c in (normality(x, alpha, "a"), normality(y, alpha, "b")) if c is not None)
    if len(checks) == 2 and all(c.passed for c in checks):
        return "welch", "both groups look normal: Welch t", checks
    if len(checks) < 2:
        return "welch", "too few distinct values to check normality: Welch t", checks
    return "mann_whitney", "a group does not look normal: Mann-Whitney U", checks


def _rank_biserial_unpaired(x: FloatArray, y: FloatArray, outcome: Outcome) -> EffectSize:
    if x.size == 0 or y.size == 0 or not math.isfinite(outcome.statistic):
        return EffectSize("rank_biserial", NAN, notes=("an empty group: no ranks to compare",))
    value = 2 * outcome.statistic / (x.size * y.size) - 1
    return EffectSize("rank_biserial", value, method="2U/(n1 n2) - 1")
