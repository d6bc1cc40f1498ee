"""Bootstrap confidence intervals of a statistic of one sample (seeded, reproducible)."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats as sps

from pytest_crucible.errors import StatsError
from pytest_crucible.stats._inputs import (
    NAN,
    ArrayLike,
    check_level,
    finite,
    item_values,
    no_variation,
)
from pytest_crucible.stats._results import BootstrapCI

__all__ = ["BOOTSTRAP_METHODS", "bootstrap_ci"]

BOOTSTRAP_METHODS = {"percentile": "percentile", "bca": "BCa", "basic": "basic"}
_NAMED: dict[str, Callable[..., Any]] = {"mean": np.mean, "median": np.median}


def bootstrap_ci(
    x: ArrayLike,
    statistic: str | Callable[..., Any] = "mean",
    method: str = "percentile",
    n_resamples: int = 9999,
    seed: int | None = 0,
    level: float = 0.95,
    batch: int | None = None,
) -> BootstrapCI:
    """Bootstrap CI of `statistic` over the items of x (missing values dropped).

    statistic: "mean", "median" or a callable of one sample; a callable with an `axis`
    parameter is called vectorized. method: "percentile", "bca" (bias-corrected and
    accelerated) or "basic". The same seed gives the same interval. batch: resamples computed
    at once by a vectorized statistic (None: all), to bound memory.
    """
    check_level(level)
    if method not in BOOTSTRAP_METHODS:
        raise StatsError(f"method={method!r} is unknown; use 'percentile', 'bca' or 'basic'")
    if n_resamples < 1:
        raise StatsError(f"n_resamples={n_resamples} must be at least 1 (e.g. 9999)")
    function = _statistic(statistic)
    items = item_values(x, "x")
    values = finite(items.values)
    notes = list(items.notes)
    if (dropped := items.values.size - values.size) > 0:
        notes.append(f"{dropped} missing value(s) dropped")
    if values.size < 2:
        notes.append(f"{values.size} value(s): a bootstrap needs at least 2")
        estimate = float(function(values)) if values.size else NAN
        return BootstrapCI(method, estimate, (NAN, NAN), NAN, level, n_resamples, seed, (*notes,))
    estimate = float(function(values))
    if no_variation(values):
        notes.append("every value is the same: the interval has zero width")
        ci = (estimate, estimate)
        return BootstrapCI(method, estimate, ci, 0.0, level, n_resamples, seed, (*notes,))
    vectorized = "axis" in _parameters(function)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sps.bootstrap(
            (values,),
            function,
            n_resamples=n_resamples,
            vectorized=vectorized,
            confidence_level=level,
            method=BOOTSTRAP_METHODS[method],
            rng=np.random.default_rng(seed),
            batch=batch,
        )
    interval = result.confidence_interval
    ci = (float(interval.low), float(interval.high))
    if not all(np.isfinite(ci)):
        notes.append("the bootstrap distribution is degenerate: the interval is undefined")
    se = float(result.standard_error)
    return BootstrapCI(method, estimate, ci, se, level, n_resamples, seed, tuple(notes))


def _statistic(statistic: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(statistic):
        return statistic
    if statistic not in _NAMED:
        raise StatsError(f"statistic={statistic!r} is unknown; use 'mean', 'median' or a function")
    return _NAMED[statistic]


def _parameters(function: Callable[..., Any]) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return ()
