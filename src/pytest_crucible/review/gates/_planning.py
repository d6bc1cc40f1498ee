"""How many items would turn an inconclusive comparison with a baseline into a verdict.

The variance of one item's difference is split as in Miller (2024) into a between-item part
and a within-item part that more repeats shrink; `stats.plan_paired_eval` then gives the
items a one-sided test at alpha needs, with 80% power, to separate the observed difference
from minus the margin. That assumes the true difference is the one observed: a guide to the
order of magnitude, not a promise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pytest_crucible.errors import StatsError
from pytest_crucible.review.gates._frames import passed_rows
from pytest_crucible.stats import plan_paired_eval

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Plan", "Spread", "items_needed", "spread"]


@dataclass(frozen=True)
class Spread:
    """Within-item SD of one condition's repeats (pooled over items) and its usual repeats."""

    within_sd: float
    repeats: int


@dataclass(frozen=True)
class Plan:
    """Items needed to decide (None when no number of items would), and why."""

    items: int | None
    text: str


def spread(trials: pd.DataFrame, condition: str, metric: str) -> Spread:
    """Pooled within-item SD of `metric` under `condition` (passed trials) and the median
    number of repeats per item."""
    rows = passed_rows(trials)
    if metric not in rows.columns:
        return Spread(0.0, 1)
    rows = rows.loc[rows["condition"].astype(str) == condition]
    values = rows[metric].astype(float)
    grouped = values.groupby(rows["item_id"].astype(str).to_numpy())
    counts = grouped.count()
    counts = counts[counts > 0]
    if counts.empty:
        return Spread(0.0, 1)
    variances = grouped.var(ddof=1).reindex(counts.index)
    usable = counts > 1
    dof = float((counts[usable] - 1).sum())
    pooled = float(((counts[usable] - 1) * variances[usable]).sum() / dof) if dof else 0.0
    return Spread(math.sqrt(max(pooled, 0.0)), max(1, round(float(counts.median()))))


def items_needed(
    estimate: float,
    margin: float,
    differences: np.ndarray,
    current: Spread,
    base: Spread,
    alpha: float,
    power: float = 0.8,
) -> Plan:
    """Items needed to tell `estimate` (oriented difference) apart from -margin."""
    distance = abs(estimate + margin)
    if differences.size < 2 or not math.isfinite(estimate):
        return Plan(None, "fewer than 2 items in both runs: add items to get any verdict")
    if distance < 1e-12:
        return Plan(
            None,
            "the observed difference sits exactly on minus the margin: more items will not "
            "decide it; reconsider the margin",
        )
    repeats = max(1, min(current.repeats, base.repeats))
    within = current.within_sd**2 + base.within_sd**2
    between = max(0.0, float(np.var(differences, ddof=1)) - within / repeats)
    try:
        plan = plan_paired_eval(
            distance,
            item_sd=math.sqrt(between / 2),
            within_sd=(current.within_sd, base.within_sd),
            repeats=repeats,
            power=power,
            alpha=min(2 * alpha, 0.5),  # the planner is two-sided; the gate test one-sided
        )
    except StatsError as error:  # pragma: no cover - inputs are checked above
        return Plan(None, f"no estimate of the items needed ({error})")
    return Plan(
        plan.n_items,
        f"about {plan.n_items} items (now {differences.size}) would decide it with "
        f"{power:.0%} power if the true difference is {estimate:+.3g}; {plan.advice}",
    )
