"""Input handling shared by the statistics: per-item values, pairing, clusters, intervals."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from pytest_crucible.errors import StatsError

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
ArrayLike: TypeAlias = npt.ArrayLike

ALTERNATIVES = ("two-sided", "greater", "less")
NAN = float("nan")


@dataclass(frozen=True)
class Items:
    """One value per item (repeats averaged; NaN where an item has no value)."""

    values: FloatArray
    repeats: int
    notes: tuple[str, ...]


def item_values(x: ArrayLike, name: str) -> Items:
    """Per-item values of `x`: a 1-D sequence, or an items x repeats 2-D array (averaged)."""
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StatsError(
            f"{name} must hold numbers (one per item, or an items x repeats array); "
            f"converting it failed: {exc}"
        ) from None
    if array.ndim == 0:
        raise StatsError(f"{name} is a single number; pass one value per item (a sequence)")
    if array.ndim > 2:
        raise StatsError(
            f"{name} has {array.ndim} dimensions; pass one value per item or items x repeats"
        )
    notes: list[str] = []
    infinite = np.isinf(array)
    if infinite.any():
        array = np.where(infinite, np.nan, array)
        notes.append(f"{name}: {int(infinite.sum())} infinite value(s) treated as missing")
    repeats = 1
    if array.ndim == 2:
        repeats = int(array.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            array = np.nanmean(array, axis=1) if array.shape[1] else np.full(len(array), np.nan)
        if repeats > 1:
            notes.append(f"{name}: repeats averaged within each item (up to {repeats} per item)")
    return Items(np.ascontiguousarray(array, dtype=np.float64), repeats, tuple(notes))


def cluster_codes(clusters: ArrayLike | Sequence[Any], n: int) -> IntArray:
    """Integer codes 0..G-1 for cluster labels; a missing label makes its own cluster."""
    import pandas as pd

    labels = clusters if isinstance(clusters, np.ndarray) else list(clusters)  # type: ignore[arg-type]
    if len(labels) != n:
        raise StatsError(
            f"clusters has {len(labels)} labels but there are {n} items; give one cluster "
            "label per item (in the same order as the values)"
        )
    codes, _ = pd.factorize(pd.Series(labels, dtype=object), use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    missing = codes < 0
    if missing.any():
        start = int(codes.max()) + 1 if (~missing).any() else 0
        codes[missing] = np.arange(start, start + int(missing.sum()))
    return codes


def compact(codes: IntArray) -> tuple[IntArray, int]:
    """Renumber codes to 0..G-1 (after items were dropped); return them and G."""
    uniques, inverse = np.unique(codes, return_inverse=True)
    return inverse.astype(np.int64), len(uniques)


def is_binary(values: FloatArray) -> bool:
    """True when there are values and every one of them is 0 or 1."""
    return bool(values.size) and bool(np.all((values == 0.0) | (values == 1.0)))


def mean_se(values: FloatArray, codes: IntArray | None) -> tuple[float, float, int | None]:
    """Standard error of the mean and the df of its t quantile; clustered (CR1) with codes.

    The clustered variance is G/(G-1) * sum_c (sum_{i in c} e_i)^2 / n^2 with e = x - mean,
    which equals the plain s^2/n exactly when every cluster holds one item.
    """
    n = values.size
    if n < 2:
        return NAN, NAN, None if codes is None else n
    if codes is None:
        return float(np.std(values, ddof=1) / math.sqrt(n)), float(n - 1), None
    codes, n_clusters = compact(codes)
    if n_clusters < 2:
        return NAN, NAN, n_clusters
    residual = values - values.mean()
    totals = np.bincount(codes, weights=residual, minlength=n_clusters)
    variance = n_clusters / (n_clusters - 1) * float(np.dot(totals, totals)) / n**2
    return math.sqrt(variance), float(n_clusters - 1), n_clusters


def t_interval(
    estimate: float, se: float, df: float, level: float, alternative: str = "two-sided"
) -> tuple[float, float]:
    """A t interval around `estimate`; one-sided (to +-inf) for a one-sided alternative."""
    if not (math.isfinite(se) and math.isfinite(df) and df > 0):
        return (NAN, NAN)
    if alternative == "two-sided":
        half = float(sps.t.ppf(0.5 + level / 2, df)) * se
        return (estimate - half, estimate + half)
    bound = float(sps.t.ppf(level, df)) * se
    if alternative == "greater":
        return (estimate - bound, math.inf)
    return (-math.inf, estimate + bound)


def t_p_value(t_stat: float, df: float, alternative: str) -> float:
    """P-value of a t statistic under `alternative`."""
    if not math.isfinite(t_stat) or not (df > 0):
        return NAN
    if alternative == "two-sided":
        return float(min(1.0, 2 * sps.t.sf(abs(t_stat), df)))
    if alternative == "greater":
        return float(sps.t.sf(t_stat, df))
    return float(sps.t.cdf(t_stat, df))


def check_level(level: float) -> None:
    if not 0 < level < 1:
        raise StatsError(f"level={level} must lie strictly between 0 and 1 (e.g. 0.95)")


def check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise StatsError(
            f"alternative={alternative!r} is unknown; use 'two-sided', 'greater' "
            "(mean(a) > mean(b)) or 'less'"
        )


def check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise StatsError(f"alpha={alpha} must lie strictly between 0 and 1 (e.g. 0.05)")


def finite(values: FloatArray) -> FloatArray:
    """The non-missing values."""
    return values[~np.isnan(values)]


@dataclass(frozen=True)
class Outcome:
    """What one test computed: its statistic, df (None when it has none) and p-value."""

    statistic: float
    df: float | None
    p_value: float
    method: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Options:
    """The settings of one `compare` call that the test runners need."""

    alternative: str
    level: float
    exact: bool | None
    correction: bool
    n_resamples: int
    seed: int | None
    normality_alpha: float


@dataclass(frozen=True)
class Run:
    """A test's outcome with the interval of the difference, its SE and how it was made."""

    outcome: Outcome
    ci: tuple[float, float]
    se: float
    ci_method: str
    ci_estimate: float | None = None  # the interval's own centre when not the mean difference


def no_variation(values: FloatArray) -> bool:
    """True when all values are equal up to floating-point rounding (e.g. 1.0-0.9 vs 2.0-1.9)."""
    if values.size == 0:
        return True
    spread = float(np.ptp(values))
    return spread == 0 or spread <= 1e-10 * float(np.max(np.abs(values)))
