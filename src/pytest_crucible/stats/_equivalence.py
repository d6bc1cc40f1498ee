"""Equivalence (TOST) and non-inferiority of mean(a) - mean(b) against a margin.

Both use t statistics on the difference of means: paired (per-item differences, with a
cluster-robust SE when clusters are given) or Welch's for independent samples, as R's
equivalence::tost does by default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

from pytest_crucible.errors import StatsError
from pytest_crucible.stats._inputs import (
    NAN,
    ArrayLike,
    check_alpha,
    cluster_codes,
    finite,
    item_values,
    mean_se,
)
from pytest_crucible.stats._results import EquivalenceResult, NoninferiorityResult

__all__ = ["equivalence", "noninferiority"]


@dataclass(frozen=True)
class _Difference:
    estimate: float
    se: float
    df: float
    n: int
    method: str
    notes: tuple[str, ...]


def equivalence(
    a: ArrayLike,
    b: ArrayLike,
    margin: float | tuple[float, float],
    paired: bool,
    alpha: float = 0.05,
    clusters: ArrayLike | Sequence[Any] | None = None,
) -> EquivalenceResult:
    """Two one-sided tests that low < mean(a) - mean(b) < high (margin m means (-m, m)).

    equivalent when both one-sided tests reject at alpha, i.e. when the (1 - 2 alpha) CI lies
    inside the margin. p_value is the larger of the two one-sided p-values.
    """
    check_alpha(alpha)
    low, high = _bounds(margin)
    diff = _difference(a, b, paired, clusters)
    notes = list(diff.notes)
    if not (diff.se > 0 and math.isfinite(diff.se)):
        notes.append("no usable standard error (too few items or no variation): not shown")
        return EquivalenceResult(
            "TOST, " + diff.method, diff.estimate, diff.se, diff.df, (NAN, NAN), (low, high),
            NAN, NAN, NAN, False, alpha, diff.n, paired, tuple(notes),
        )  # fmt: skip
    p_lower = float(sps.t.sf((diff.estimate - low) / diff.se, diff.df))
    p_upper = float(sps.t.cdf((diff.estimate - high) / diff.se, diff.df))
    half = float(sps.t.ppf(1 - alpha, diff.df)) * diff.se
    ci = (diff.estimate - half, diff.estimate + half)
    p_value = max(p_lower, p_upper)
    return EquivalenceResult(
        "TOST, " + diff.method, diff.estimate, diff.se, diff.df, ci, (low, high), p_value,
        p_lower, p_upper, p_value < alpha, alpha, diff.n, paired, tuple(notes),
    )  # fmt: skip


def noninferiority(
    a: ArrayLike,
    b: ArrayLike,
    margin: float,
    paired: bool,
    alpha: float = 0.05,
    clusters: ArrayLike | Sequence[Any] | None = None,
    lower_is_better: bool = False,
) -> NoninferiorityResult:
    """Is a (current) not worse than b (baseline) by more than `margin` (metric units, >= 0)?

    The difference is oriented so that positive means a is better (b - a when lower is
    better). verdict: "noninferior" when the one-sided (1 - alpha) lower bound exceeds
    -margin; "inferior" when the one-sided test of H0: difference >= -margin rejects at alpha
    (a regression is shown); "inconclusive" otherwise (too few items to tell).
    """
    check_alpha(alpha)
    if not (math.isfinite(margin) and margin >= 0):
        raise StatsError(f"margin={margin} must be a number >= 0 in the metric's units")
    first, second = (b, a) if lower_is_better else (a, b)
    diff = _difference(first, second, paired, clusters)
    notes = list(diff.notes)
    estimate, se, df = diff.estimate, diff.se, diff.df
    if se > 0 and math.isfinite(se):
        t_stat = (estimate + margin) / se
        p_non, p_inf = float(sps.t.sf(t_stat, df)), float(sps.t.cdf(t_stat, df))
        bound = float(sps.t.ppf(1 - alpha, df)) * se
        low, high = estimate - bound, estimate + bound
        verdict = (
            "noninferior" if p_non < alpha else "inferior" if p_inf < alpha else "inconclusive"
        )
    elif se == 0 and diff.n >= 2:
        low = high = estimate
        p_non, p_inf = (0.0, 1.0) if estimate > -margin else (1.0, 0.0)
        verdict = "noninferior" if estimate > -margin else "inferior"
        notes.append("the differences do not vary: the verdict rests on the estimate alone")
    else:
        low = high = p_non = p_inf = NAN
        verdict = "inconclusive"
        notes.append("fewer than 2 usable items: no verdict possible; run more items")
    return NoninferiorityResult(
        "non-inferiority t, " + diff.method, estimate, se, df, margin, low, high, p_non, p_inf,
        verdict, alpha, diff.n, paired, lower_is_better, tuple(notes),
    )  # fmt: skip


def _difference(
    a: ArrayLike, b: ArrayLike, paired: bool, clusters: ArrayLike | Sequence[Any] | None
) -> _Difference:
    items_a, items_b = item_values(a, "a"), item_values(b, "b")
    notes = [*items_a.notes, *items_b.notes]
    if not paired:
        if clusters is not None:
            raise StatsError("clusters= needs paired=True (the same items in a and b)")
        x, y = finite(items_a.values), finite(items_b.values)
        if min(x.size, y.size) < 2:
            return _Difference(_mean_gap(x, y), NAN, NAN, x.size + y.size, "Welch", tuple(notes))
        va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
        se = math.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1)) if se > 0 else NAN
        return _Difference(
            float(x.mean() - y.mean()), se, df, x.size + y.size, "Welch", tuple(notes)
        )
    if items_a.values.size != items_b.values.size:
        raise StatsError(
            f"paired=True needs one value per item in a and b; got {items_a.values.size} "
            f"and {items_b.values.size}"
        )
    codes = None if clusters is None else cluster_codes(clusters, items_a.values.size)
    keep = ~np.isnan(items_a.values) & ~np.isnan(items_b.values)
    if (dropped := int((~keep).sum())) > 0:
        notes.append(f"{dropped} item(s) missing in a or b dropped (complete cases)")
    d = items_a.values[keep] - items_b.values[keep]
    se, df, _ = mean_se(d, None if codes is None else codes[keep])
    method = "paired" if codes is None else "paired, cluster-robust SE"
    estimate = float(d.mean()) if d.size else NAN
    return _Difference(estimate, se, df, int(d.size), method, tuple(notes))


def _mean_gap(x: np.ndarray, y: np.ndarray) -> float:
    return float(x.mean() - y.mean()) if x.size and y.size else NAN


def _bounds(margin: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(margin, tuple):
        low, high = (float(v) for v in margin)
    else:
        low, high = -float(margin), float(margin)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise StatsError(f"margin={margin!r} must be m > 0 or a pair (low, high) with low < high")
    return low, high
