"""Aggregates of a condition beyond its mean: pass@k (the unbiased estimator of Chen et al.
2021, "Evaluating Large Language Models Trained on Code"), percentiles of trial values, and
ratios of sums (cost per trial, cost per correct answer), each with a bootstrap interval
that resamples items with all their repeats (whole clusters when items share one), never
single trials; a ratio over more than RATIO_BOOTSTRAP_UNITS items gets the delta-method
interval instead, which the bootstrap converges to.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from pytest_crucible.errors import StatsError
from pytest_crucible.stats._bootstrap import bootstrap_ci
from pytest_crucible.stats._inputs import ArrayLike
from pytest_crucible.stats._results import BootstrapCI

__all__ = ["pass_at_k", "pass_at_k_ci", "percentile_ci", "ratio_ci", "ratio_of_sums_ci"]

_CELLS_PER_BATCH = 4_000_000  # floats one vectorized batch of resamples may hold
# Above this many items (or clusters), a ratio of sums gets the delta-method interval: the
# bootstrap of 10,000 items x 10 conditions took half a minute at session end.
RATIO_BOOTSTRAP_UNITS = 500


def pass_at_k(n: int, c: int, k: int) -> float:
    """The chance that at least one of k samples drawn without replacement from n attempts,
    c of them correct, is correct: 1 - C(n - c, k) / C(n, k), computed as the paper's product
    1 - prod(1 - k / i for i in n - c + 1 .. n) (stable for large n). 1.0 when n - c < k."""
    for name, value in (("n", n), ("c", c), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise StatsError(f"pass_at_k: {name}={value!r} must be an integer")
    if k < 1:
        raise StatsError(f"pass_at_k: k={k} must be at least 1")
    if not 0 <= c <= n:
        raise StatsError(f"pass_at_k: c={c} correct must lie between 0 and n={n}")
    if k > n:
        raise StatsError(
            f"pass@{k} needs at least {k} repeats per item; the item has {n}: "
            "raise the experiment's repeat or lower k"
        )
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))


def pass_at_k_ci(
    outcomes: Sequence[ArrayLike],
    k: int,
    clusters: Sequence[object] | None = None,
    *,
    level: float = 0.95,
    seed: int | None = 0,
    n_resamples: int = 9999,
) -> BootstrapCI:
    """pass@k of a condition: the mean over items of the per-item estimator (outcomes[i]:
    item i's repeats, each 0 or 1), with a bootstrap interval over items (or clusters).
    Undefined (a StatsError saying how many items) when an item has fewer than k repeats."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise StatsError(f"pass_at_k_ci: k={k!r} must be an integer of at least 1")
    arrays = [_values(values, f"outcomes[{index}]") for index, values in enumerate(outcomes)]
    for index, array in enumerate(arrays):
        if not np.isin(array, (0, 1)).all():
            raise StatsError(f"pass_at_k_ci: outcomes[{index}] holds values other than 0 and 1")
    short = sorted(int(array.size) for array in arrays if array.size < k)
    if short:
        have = "has" if len(short) == 1 else "have"
        raise StatsError(
            f"pass@{k} needs at least {k} repeats per item; {len(short)} of {len(arrays)} "
            f"items {have} fewer (as few as {short[0]}): raise the repeats or lower k"
        )
    estimates, ones = [], []
    for array in arrays:
        estimates.append([pass_at_k(int(array.size), int(array.sum()), k)])
        ones.append([1.0])
    return ratio_ci(estimates, ones, clusters, level=level, seed=seed, n_resamples=n_resamples)


def percentile_ci(
    values: Sequence[ArrayLike],
    q: float,
    clusters: Sequence[object] | None = None,
    *,
    level: float = 0.95,
    seed: int | None = 0,
    n_resamples: int = 9999,
) -> BootstrapCI:
    """The q-th percentile (0-100, linear interpolation) of every trial value (values[i]:
    item i's repeats), with a bootstrap interval that resamples items with their repeats."""
    if not 0 <= q <= 100:
        raise StatsError(f"percentile_ci: q={q} must lie between 0 and 100")
    units = _units([_values(v, f"values[{i}]") for i, v in enumerate(values)], clusters)
    width = max((u.size for u in units), default=0)
    if width == 0:
        raise StatsError("percentile_ci: no values; pass at least one item with a value")
    padded = np.full((len(units), width), np.nan)
    for row, values_of_unit in enumerate(units):
        padded[row, : values_of_unit.size] = values_of_unit

    # np.percentile is several times faster than np.nanpercentile: use it when no padding
    percentile = np.nanpercentile if np.isnan(padded).any() else np.percentile

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        chosen = padded[index.astype(np.intp)]  # (..., units, width)
        flat = chosen.reshape(*chosen.shape[:-2], -1)
        return np.asarray(percentile(flat, q, axis=-1))

    kind = "clusters" if clusters is not None else "items"
    return _bootstrap(statistic, len(units), width, level, seed, n_resamples, kind)


def ratio_ci(
    numerators: Sequence[ArrayLike],
    denominators: Sequence[ArrayLike],
    clusters: Sequence[object] | None = None,
    *,
    level: float = 0.95,
    seed: int | None = 0,
    n_resamples: int = 9999,
) -> BootstrapCI:
    """sum(numerators) / sum(denominators) over every item (numerators[i], denominators[i]:
    item i's trials), with a bootstrap interval over items (or clusters). Cost per trial is
    costs / ones; cost per correct answer is costs / outcomes. Infinite when the
    denominators sum to 0."""
    if len(numerators) != len(denominators):
        raise StatsError(
            f"ratio_ci: {len(numerators)} numerator items but {len(denominators)} denominator ones"
        )
    top = _unit_sums([_values(v, f"numerators[{i}]") for i, v in enumerate(numerators)], clusters)
    bottom = _unit_sums(
        [_values(v, f"denominators[{i}]") for i, v in enumerate(denominators)], clusters
    )
    unit = "clusters" if clusters is not None else "items"
    return ratio_of_sums_ci(top, bottom, level=level, seed=seed, n_resamples=n_resamples, unit=unit)


def ratio_of_sums_ci(
    top: ArrayLike,
    bottom: ArrayLike,
    *,
    level: float = 0.95,
    seed: int | None = 0,
    n_resamples: int = 9999,
    unit: str = "items",
) -> BootstrapCI:
    """`ratio_ci` from each unit's sums (top[u], bottom[u]: the sums of unit u's numerators and
    denominators), e.g. as one pandas groupby gives them for many items at once."""
    top = np.asarray(top, dtype=np.float64)
    bottom = np.asarray(bottom, dtype=np.float64)
    if top.shape != bottom.shape:
        raise StatsError(f"ratio_of_sums_ci: {top.size} numerator sums, {bottom.size} denominator")
    if top.size > RATIO_BOOTSTRAP_UNITS and bottom.sum() != 0:
        return _delta_ratio(top, bottom, level, unit)

    def statistic(index: np.ndarray, axis: int = -1) -> np.ndarray:
        chosen = index.astype(np.intp)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(top[chosen].sum(axis=-1) / bottom[chosen].sum(axis=-1))

    return _bootstrap(statistic, top.size, 1, level, seed, n_resamples, unit)


def _delta_ratio(top: np.ndarray, bottom: np.ndarray, level: float, unit: str) -> BootstrapCI:
    """The ratio of sums with the linearization (delta-method) interval of survey sampling:
    se = sqrt(n / (n - 1) * sum((x_u - R y_u)^2)) / sum(y_u) over the n units. With many
    units it agrees with the bootstrap and costs O(n) instead of O(n x resamples)."""
    n = top.size
    ratio = float(top.sum() / bottom.sum())
    residuals = top - ratio * bottom
    se = float(np.sqrt(n / (n - 1) * float(np.sum(residuals**2))) / abs(float(bottom.sum())))
    z = NormalDist().inv_cdf(0.5 + level / 2)
    note = f"delta-method interval over {n} {unit} (many {unit}: the bootstrap's, at O(n))"
    return BootstrapCI(
        "delta", ratio, (ratio - z * se, ratio + z * se), se, level, 0, None, (note,)
    )


def _values(values: ArrayLike, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as error:
        raise StatsError(f"{name} must hold numbers: {error}") from None
    return array[np.isfinite(array)]


def _units(items: list[np.ndarray], clusters: Sequence[object] | None) -> list[np.ndarray]:
    """The resampled units: each item's values, or each cluster's values pooled."""
    if clusters is None:
        return items
    if len(clusters) != len(items):
        raise StatsError(f"clusters has {len(clusters)} labels for {len(items)} items")
    pooled: dict[str, list[np.ndarray]] = {}
    for label, values in zip(clusters, items, strict=True):
        pooled.setdefault(str(label), []).append(values)
    return [np.concatenate(parts) for parts in pooled.values()]


def _unit_sums(items: list[np.ndarray], clusters: Sequence[object] | None) -> np.ndarray:
    return np.array([unit.sum() for unit in _units(items, clusters)], dtype=np.float64)


def _bootstrap(
    statistic: object,
    n_units: int,
    width: int,
    level: float,
    seed: int | None,
    n_resamples: int,
    unit: str,
) -> BootstrapCI:
    batch = max(1, _CELLS_PER_BATCH // max(1, n_units * width))
    result = bootstrap_ci(
        np.arange(n_units, dtype=np.float64),
        statistic,  # type: ignore[arg-type]
        n_resamples=n_resamples,
        seed=seed,
        level=level,
        batch=batch,
    )
    note = f"bootstrap over {n_units} {unit} (each with all its repeats)"
    return BootstrapCI(
        result.method,
        result.estimate,
        result.ci,
        result.se,
        level,
        n_resamples,
        seed,
        (note, *result.notes),
    )
