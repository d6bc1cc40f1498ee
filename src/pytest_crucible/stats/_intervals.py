"""Intervals that invert the paired tests they are printed beside.

- McNemar (paired 0/1 outcomes): Tango's (1998) score interval for the difference of paired
  proportions p10 - p01. At a difference of 0 its score statistic is McNemar's (without
  continuity correction), so the interval excludes 0 exactly when that test rejects; it
  always lies in [-1, 1]. Recommended by Fagerland, Lydersen & Laake (2014).
- Wilcoxon signed-rank: the Hodges-Lehmann estimate (median of the Walsh averages) and the
  interval that inverts the signed-rank test, as R's wilcox.test(conf.int = TRUE): exact
  order statistics of the Walsh averages below 50 pairs without ties or zeros, else the
  shifts whose normal-approximation statistic (tie and continuity corrected) is not
  significant.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize
from scipy import stats as sps

from ._data import NAN, FloatArray

__all__ = ["hodges_lehmann", "tango_interval"]


def _tango_z(delta: float, n10: int, n01: int, n: int) -> float:
    """Tango's score statistic for H0: p10 - p01 = delta (restricted MLE of p01)."""
    w = -n10 - n01 + (2 * n - n10 + n01) * delta
    p01 = (math.sqrt(max(w * w + 8 * n * n01 * delta * (1 - delta), 0.0)) - w) / (4 * n)
    variance = n * (2 * p01 + delta * (1 - delta))
    centre = n10 - n01 - n * delta
    if variance <= 0:
        return math.copysign(math.inf, centre) if centre else 0.0
    return centre / math.sqrt(variance)


def tango_interval(
    n10: int, n01: int, n: int, level: float, alternative: str = "two-sided"
) -> tuple[float, float]:
    """Tango's score interval for p10 - p01 from n pairs with n10 and n01 discordant pairs."""
    if n <= 0:
        return (NAN, NAN)
    estimate = (n10 - n01) / n
    tail = (1 - level) / 2 if alternative == "two-sided" else 1 - level
    z = float(sps.norm.isf(tail))

    def bound(target: float, start: float, stop: float) -> float:
        def f(delta: float) -> float:
            return _tango_z(delta, n10, n01, n) - target

        if f(stop) * f(start) > 0:
            return stop  # the statistic never reaches the critical value: the bound is +-1
        return float(optimize.brentq(f, start, stop, xtol=1e-12))

    low = bound(z, estimate, -1.0) if alternative != "less" else -math.inf
    high = bound(-z, estimate, 1.0) if alternative != "greater" else math.inf
    return (low, high)


def hodges_lehmann(
    diff: FloatArray, level: float, alternative: str = "two-sided", correction: bool = True
) -> tuple[float, tuple[float, float], str]:
    """Hodges-Lehmann estimate of the paired shift, its interval and how it was computed."""
    if diff.size == 0:
        return NAN, (NAN, NAN), "Hodges-Lehmann"
    zeros = bool(np.any(diff == 0))
    diff = diff[diff != 0]  # R drops zero differences before the interval too
    n = diff.size
    if n == 0:
        return 0.0, (0.0, 0.0), "Hodges-Lehmann"
    walsh = np.sort(((diff[:, None] + diff[None, :]) / 2)[np.triu_indices(n)])
    estimate = float(np.median(walsh))
    ties = np.unique(np.abs(diff)).size < n
    tail = (1 - level) / 2 if alternative == "two-sided" else 1 - level
    if n < 50 and not ties and not zeros:
        k = _signrank_quantile(tail, n)  # R: qsignrank(alpha / 2, n)
        # k = 0: even the most extreme data would not reject, so no finite bound (R instead
        # sets k = 1 and reports a lower confidence level)
        low = float(walsh[k - 1]) if k else -math.inf
        high = float(walsh[walsh.size - k]) if k else math.inf
        method = "Hodges-Lehmann, exact"
    else:
        # the statistic only changes at Walsh averages: the bounds are the ones it crosses at
        z = float(sps.norm.isf(tail))
        steps = np.unique(walsh)
        first = _first_at_or_below(steps, diff, z, correction)
        last = _first_at_or_below(steps, diff, -z, correction)
        low = float(steps[first]) if 0 < first < steps.size else -math.inf
        high = float(steps[last]) if last < steps.size else math.inf
        method = "Hodges-Lehmann, normal approx."
    if alternative == "greater":
        high = math.inf
    elif alternative == "less":
        low = -math.inf
    return estimate, (low, high), method


def _signrank_quantile(p: float, n: int) -> int:
    """The smallest q with P(V <= q) >= p under H0 (R's qsignrank)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    cdf = np.cumsum(counts) / counts.sum()
    return int(np.searchsorted(cdf, p - 1e-12))


def _signrank_z(diff: FloatArray, shift: float, correction: bool) -> float:
    """The signed-rank statistic of diff - shift as a z score (zeros dropped, ties corrected)."""
    x = diff - shift
    x = x[x != 0]
    n = x.size
    if n == 0:
        return 0.0
    ranks = sps.rankdata(np.abs(x))
    v = float(ranks[x > 0].sum())
    _, ties = np.unique(np.abs(x), return_counts=True)
    sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - float(np.sum(ties**3 - ties)) / 48)
    centre = v - n * (n + 1) / 4
    if sd == 0:
        return 0.0
    cc = 0.5 * math.copysign(1.0, centre) if correction and centre else 0.0
    return float((centre - cc) / sd)


def _first_at_or_below(walsh: FloatArray, diff: FloatArray, target: float, cc: bool) -> int:
    """Index of the first Walsh average whose statistic is <= target (it steps down there)."""
    low, high = 0, walsh.size
    while low < high:
        middle = (low + high) // 2
        if _signrank_z(diff, float(walsh[middle]), cc) <= target:
            high = middle
        else:
            low = middle + 1
    return low
