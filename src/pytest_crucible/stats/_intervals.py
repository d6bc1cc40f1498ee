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

from pytest_crucible.stats._inputs import NAN, FloatArray

__all__ = ["hodges_lehmann", "tango_interval"]

_WALSH_MAX = 1000  # more pairs: the n^2 / 2 Walsh averages would take too much memory


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
    ties = np.unique(np.abs(diff)).size < n
    tail = (1 - level) / 2 if alternative == "two-sided" else 1 - level
    if n < 50 and not ties and not zeros:
        walsh = np.sort(_walsh(diff))
        estimate = float(np.median(walsh))
        k = _signrank_quantile(tail, n)  # R: qsignrank(alpha / 2, n)
        # k = 0: even the most extreme data would not reject, so no finite bound (R instead
        # sets k = 1 and reports a lower confidence level)
        low = float(walsh[k - 1]) if k else -math.inf
        high = float(walsh[walsh.size - k]) if k else math.inf
        method = "Hodges-Lehmann, exact"
    else:
        # as R: the shifts where the statistic crosses the critical values (and 0 for the
        # estimate), found by bisection, so no n^2 Walsh averages are held in memory
        z = float(sps.norm.isf(tail))
        if n <= _WALSH_MAX:  # the statistic only changes at Walsh averages: search those
            steps = np.unique(_walsh(diff))
            estimate = float(np.median(_walsh(diff)))
            low, high = (_step_crossing(diff, steps, t, correction) for t in (z, -z))
        else:
            span = (float(diff.min()), float(diff.max()))
            plateau = [_crossing(diff, edge, span, correction) for edge in (1e-9, -1e-9)]
            estimate = (plateau[0] + plateau[1]) / 2  # the middle of the shifts giving 0
            low, high = (_crossing(diff, t, span, correction) for t in (z, -z))
        method = "Hodges-Lehmann, normal approx."
    if alternative == "greater":
        high = math.inf
    elif alternative == "less":
        low = -math.inf
    return estimate, (low, high), method


def _walsh(diff: FloatArray) -> FloatArray:
    """Every (d_i + d_j) / 2 with i <= j."""
    return ((diff[:, None] + diff[None, :]) / 2)[np.triu_indices(diff.size)]


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


def _step_crossing(diff: FloatArray, steps: FloatArray, target: float, cc: bool) -> float:
    """As _crossing, searching the Walsh averages: the statistic is constant between two of
    them, so it is evaluated at the midpoints and the crossing is a Walsh average."""
    below = float(steps[0]) - 1.0
    if _signrank_z(diff, below, cc) <= target:
        return -math.inf
    if _signrank_z(diff, float(steps[-1]) + 1.0, cc) > target:
        return math.inf
    middles = (steps[:-1] + steps[1:]) / 2
    low, high = 0, middles.size  # the first middle at or below target (size: above the last)
    while low < high:
        middle = (low + high) // 2
        if _signrank_z(diff, float(middles[middle]), cc) <= target:
            high = middle
        else:
            low = middle + 1
    return float(steps[low])


def _crossing(
    diff: FloatArray, target: float, span: tuple[float, float], correction: bool
) -> float:
    """The smallest shift at which the statistic (it steps down as the shift grows) is at or
    below target; +-inf when no shift in the data's range gets there."""
    low, high = span
    if _signrank_z(diff, low, correction) <= target:
        return -math.inf if target > 0 else low
    if _signrank_z(diff, high, correction) > target:
        return math.inf
    for _ in range(45):  # to about 3e-14 of the data's range
        middle = (low + high) / 2
        if _signrank_z(diff, middle, correction) <= target:
            high = middle
        else:
            low = middle
    return high
