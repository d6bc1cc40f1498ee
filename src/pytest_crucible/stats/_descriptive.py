"""One condition on its own: the mean of per-item scores, a binomial proportion, and a
proportion of 0/1 outcomes averaged within items (repeats) or clustered."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from pytest_crucible.errors import StatsError
from pytest_crucible.stats._inputs import (
    NAN,
    ArrayLike,
    check_level,
    cluster_codes,
    item_values,
    mean_se,
    t_interval,
)
from pytest_crucible.stats._results import MeanCI, ProportionCI

__all__ = ["mean_ci", "mean_proportion_ci", "proportion_ci"]

_PROPORTION_METHODS = {"wilson": "wilson", "clopper_pearson": "exact"}
_WIDE = 0.75  # an interval this wide (of the [0, 1] range) says little: say so


def mean_ci(
    scores: ArrayLike,
    clusters: ArrayLike | Sequence[Any] | None = None,
    level: float = 0.95,
) -> MeanCI:
    """Mean of per-item scores, its standard error and a t confidence interval.

    scores: one value per item, or an items x repeats array (repeats are averaged within each
    item first). clusters: one label per item; the standard error is then cluster-robust
    (CR1: G/(G-1) times the sum of squared cluster totals of residuals over n^2, with a t
    quantile on G-1 df), which equals the plain standard error when every item is its own
    cluster. Missing values are dropped (with a note).
    """
    check_level(level)
    items = item_values(scores, "scores")
    codes = None if clusters is None else cluster_codes(clusters, items.values.size)
    keep = ~np.isnan(items.values)
    values = items.values[keep]
    notes = list(items.notes)
    if (dropped := int((~keep).sum())) > 0:
        notes.append(f"{dropped} item(s) without a value dropped")
    method = "t" if codes is None else "cluster-robust t (CR1)"
    if values.size == 0:
        notes.append("no values: the mean is undefined; record at least one value")
        return MeanCI(method, NAN, NAN, (NAN, NAN), 0, level, NAN, None, tuple(notes))
    se, df, n_clusters = mean_se(values, None if codes is None else codes[keep])
    notes.extend(_se_notes(values, se, n_clusters))
    mean = float(values.mean())
    ci = t_interval(mean, se, df, level)
    return MeanCI(method, mean, se, ci, int(values.size), level, df, n_clusters, tuple(notes))


def _se_notes(values: np.ndarray, se: float, n_clusters: int | None) -> list[str]:
    if values.size == 1:
        return ["one item: the standard error needs at least 2 items, so there is no interval"]
    if n_clusters is not None and n_clusters < 2:
        return ["all items share one cluster: a clustered standard error needs 2+ clusters"]
    if se == 0:
        return [
            "every value is the same: the interval has zero width; for 0/1 outcomes "
            "use proportion_ci (Wilson) for an honest interval"
        ]
    return []


def proportion_ci(k: int, n: int, method: str = "wilson", level: float = 0.95) -> ProportionCI:
    """Confidence interval of a binomial proportion k / n.

    method: "wilson" (score interval; R's prop.test(correct = FALSE)) or "clopper_pearson"
    (exact; R's binom.test).
    """
    check_level(level)
    if method not in _PROPORTION_METHODS:
        raise StatsError(f"method={method!r} is unknown; use 'wilson' or 'clopper_pearson'")
    k, n = _as_count(k, "k"), _as_count(n, "n")
    if k > n:
        raise StatsError(f"k={k} successes exceed n={n} trials; k must lie in 0..n")
    if n == 0:
        note = "n = 0: no trials, so the proportion is undefined"
        return ProportionCI(method, 0, 0, NAN, (NAN, NAN), level, (note,))
    interval = sps.binomtest(k, n).proportion_ci(level, method=_PROPORTION_METHODS[method])
    notes: tuple[str, ...] = ()
    if k in (0, n):
        notes = (f"all {n} outcomes are {'0' if k == 0 else '1'}: the interval is one-sided",)
    ci = (float(interval.low), float(interval.high))
    return ProportionCI(method, k, n, k / n, ci, level, notes)


def _as_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float | np.floating) and math.isfinite(value) and value == int(value):
            value = int(value)
        else:
            raise StatsError(f"{name}={value!r} must be a whole number of trials")
    if value < 0:
        raise StatsError(f"{name}={value} must not be negative")
    return int(value)


def mean_proportion_ci(
    scores: ArrayLike,
    clusters: ArrayLike | Sequence[Any] | None = None,
    n_trials: int | None = None,
    level: float = 0.95,
) -> MeanCI:
    """A proportion of 0/1 outcomes whose items are not independent single trials.

    scores: per-item shares in [0, 1] (repeats of an item averaged), or an items x repeats
    array of 0/1 outcomes. The interval is a Wilson score interval on the effective sample
    size (Korn & Graubard 1998; Dean & Pagano 2015): n_eff = p(1 - p) / se^2 with the
    standard error of the mean of item shares (cluster-robust CR1 with `clusters=`), capped
    at `n_trials` and scaled by (t_{n_trials - 1} / t_df)^2 for the few items or clusters
    the SE rests on. It always lies in [0, 1]. When every item has the same share the SE is
    0 and n_eff is the number of items. Fewer than 2 items (or clusters): no interval.
    """
    check_level(level)
    items = item_values(scores, "scores")
    values = items.values[~np.isnan(items.values)]
    if np.any((values < 0) | (values > 1)):
        raise StatsError(
            "mean_proportion_ci needs shares in [0, 1] (0/1 outcomes, repeats averaged); "
            f"got values from {values.min():g} to {values.max():g}; use mean_ci for scores"
        )
    codes = None if clusters is None else cluster_codes(clusters, items.values.size)
    codes = None if codes is None else codes[~np.isnan(items.values)]
    notes = list(items.notes)
    method = "Wilson, effective n" + ("" if codes is None else " (clustered)")
    n = int(values.size)
    if n_trials is None:
        raw = np.asarray(scores, dtype=np.float64)
        n_trials = int(np.isfinite(raw).sum()) if raw.ndim == 2 else n
    trials = max(n, int(n_trials))
    if n == 0:
        notes.append("no values: the proportion is undefined; record at least one value")
        return MeanCI(method, NAN, NAN, (NAN, NAN), 0, level, NAN, None, tuple(notes))
    mean = float(values.mean())
    se, df, n_clusters = mean_se(values, codes)
    if not math.isfinite(se):
        unit = "item" if n_clusters is None or n < 2 else "cluster"
        notes.append(f"one {unit}: too few to say anything; an interval needs at least 2")
        return MeanCI(method, mean, NAN, (NAN, NAN), n, level, NAN, n_clusters, tuple(notes))
    if se == 0:
        n_eff = float(n)
        notes.append(f"every item has the same share: the effective n is the {n} items")
    else:
        n_eff = min(float(trials), mean * (1 - mean) / se**2)
        quantile = 0.5 + level / 2
        n_eff *= (sps.t.ppf(quantile, max(trials - 1, 1)) / sps.t.ppf(quantile, df)) ** 2
    low, high = proportion_confint(mean * n_eff, n_eff, 1 - level, method="wilson")
    # rounding can put a bound a hair past the estimate (5.6e-17 for 0 of 3) or [0, 1]
    ci = (max(0.0, min(float(low), mean)), min(1.0, max(float(high), mean)))
    if ci[1] - ci[0] >= _WIDE:
        notes.append(f"{n} items: the interval spans most of [0, 1]; too few items to say much")
    return MeanCI(method, mean, se, ci, n, level, df, n_clusters, tuple(notes))
