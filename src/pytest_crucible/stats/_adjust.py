"""Adjust the p-values of a family of comparisons for multiplicity."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from statsmodels.stats.multitest import multipletests

from pytest_crucible.errors import StatsError
from pytest_crucible.stats._inputs import ArrayLike, check_alpha
from pytest_crucible.stats._results import AdjustedPValues

__all__ = ["ADJUST_METHODS", "adjust"]

ADJUST_METHODS = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh", "none": ""}


def adjust(p_values: ArrayLike, method: str = "holm", alpha: float = 0.05) -> AdjustedPValues:
    """Adjusted p-values, in the order given (like R's p.adjust).

    method: "holm" (step-down, controls the family-wise error; the default), "bonferroni",
    "bh" (Benjamini-Hochberg, controls the false discovery rate) or "none". Missing p-values
    (NaN) stay missing and are left out of the family, as R does.
    """
    check_alpha(alpha)
    if method not in ADJUST_METHODS:
        raise StatsError(f"method={method!r} is unknown; use 'holm', 'bonferroni', 'bh' or 'none'")
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise StatsError(f"p_values must be a flat sequence; got {p.ndim} dimensions")
    present = ~np.isnan(p)
    if np.any((p[present] < 0) | (p[present] > 1)):
        raise StatsError(f"p-values must lie in [0, 1]; got {p[present].tolist()}")
    adjusted = p.copy()
    notes: tuple[str, ...] = ()
    if (missing := int((~present).sum())) > 0:
        notes = (f"{missing} missing p-value(s) left out of the family of {int(present.sum())}",)
    if present.any() and method == "holm":
        adjusted[present] = _holm(p[present])
    elif present.any() and method != "none":
        adjusted[present] = multipletests(p[present], alpha=alpha, method=ADJUST_METHODS[method])[1]
    rejected = tuple(bool(v <= alpha) if np.isfinite(v) else False for v in adjusted)
    return AdjustedPValues(
        method,
        tuple(float(v) for v in p),
        tuple(float(v) for v in adjusted),
        rejected,
        alpha,
        notes,
    )


def _holm(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Holm's step-down adjustment (statsmodels' version runs gc.collect() on every call,
    about 50 ms, so it is done here: sorted p times (m - i), running maximum, capped at 1)."""
    order = np.argsort(p, kind="stable")
    steps = p[order] * np.arange(p.size, 0, -1)
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted
