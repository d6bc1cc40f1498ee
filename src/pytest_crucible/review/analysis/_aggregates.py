"""Per-condition aggregates beyond the mean: the percentiles and pass@K a metric declares
(`Metric(aggregate=...)`), and the cost per trial and per correct answer when trials have a
cost. Each comes with a bootstrap interval that resamples items with all their repeats
(clusters when items carry one), seeded so the same run gives the same numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pytest_crucible.declare.aggregates import Aggregate
from pytest_crucible.declare.metrics import Analysis, Metric
from pytest_crucible.errors import StatsError
from pytest_crucible.review.analysis._model import AggregateSummary, MetricAnalysis
from pytest_crucible.stats import BootstrapCI, pass_at_k_ci, percentile_ci, ratio_of_sums_ci

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COST_COLUMN", "condition_costs", "metric_aggregates"]

COST_COLUMN = "cost_usd"
_NAN = float("nan")
_RESAMPLES, _FEWER_RESAMPLES, _MANY_VALUES = 9999, 1999, 5_000


def metric_aggregates(
    trials: pd.DataFrame, metric: MetricAnalysis, declared: Metric, settings: Analysis
) -> tuple[AggregateSummary, ...]:
    """The declared aggregates (other than the mean, already shown) of one analysed metric,
    per condition, from its passed trials."""
    wanted = [a for a in declared.aggregates if a.kind != "mean"]
    if not wanted or metric.name not in trials.columns:
        return ()
    passed = _passed(trials)
    found = {}
    for summary in metric.conditions:
        found[summary.condition] = _per_item(passed, summary.condition, metric.name)
    return tuple(
        _aggregate(aggregate, metric, summary.condition, *found[summary.condition], settings)
        for aggregate in wanted
        for summary in metric.conditions
    )


def condition_costs(
    trials: pd.DataFrame,
    conditions: Sequence[str],
    metrics: Sequence[MetricAnalysis],
    settings: Analysis,
) -> tuple[AggregateSummary, ...]:
    """Mean cost per trial and cost per correct answer of each condition, when trials have a
    cost. Every trial counts (failed ones cost too; a trial without a model call cost 0);
    correct answers are the 1s of the first binary metric, from passed trials."""
    column = _cost_column(trials)
    if column is None:
        return ()
    correct = next((m.name for m in metrics if m.kind == "binary" and m.name in trials), None)
    sums, unit = _unit_sums(trials, column, correct)
    rows: list[AggregateSummary] = []
    for condition in conditions:
        if condition not in sums.index.get_level_values(0):
            continue
        mine = sums.loc[condition]
        cost = mine["_cost"].to_numpy()
        result = ratio_of_sums_ci(cost, mine["_trials"].to_numpy(), level=settings.level, unit=unit)
        rows.append(_summary("cost_per_trial", "cost per trial", condition, result))
        if correct is None:
            continue
        label = f"cost per correct {correct}"
        hits = mine["_correct"].to_numpy()
        if hits.sum() == 0:
            why = (
                f"no trial of {condition} is correct on {correct}: "
                "the cost per correct answer is undefined"
            )
            rows.append(
                AggregateSummary(
                    "cost_per_correct", label, condition, _NAN, (_NAN, _NAN), "none", (why,)
                )
            )
            continue
        result = ratio_of_sums_ci(cost, hits, level=settings.level, unit=unit)
        rows.append(_summary("cost_per_correct", label, condition, result))
    return tuple(rows)


def _unit_sums(trials: pd.DataFrame, column: str, correct: str | None) -> tuple[pd.DataFrame, str]:
    """Per condition and unit (the item, or its cluster when items carry one; sorted), the
    sums of cost, trials and correct outcomes (of passed trials), in one groupby."""
    frame = trials.assign(_cost=trials[column].fillna(0.0).astype(float), _trials=1.0)
    if correct is not None:
        outcome = frame[correct].where(_passed_mask(frame), 0.0).fillna(0.0).astype(float)
        frame = frame.assign(_correct=outcome)
    items = frame["item_id"].astype(str)
    clustered = "cluster" in frame.columns and bool(frame["cluster"].notna().any())
    if clustered:
        cluster = frame["cluster"].astype(object)
        units = cluster.where(cluster.notna(), "item:" + items).astype(str)
    else:
        units = items
    frame = frame.assign(_condition=frame["condition"].astype(str), _unit=units)
    columns = ["_cost", "_trials", *(["_correct"] if correct is not None else [])]
    sums = frame.groupby(["_condition", "_unit"], sort=True)[columns].sum()
    return sums, "clusters" if clustered else "items"


def _aggregate(
    aggregate: Aggregate,
    metric: MetricAnalysis,
    condition: str,
    items: list[np.ndarray],
    clusters: list[str] | None,
    settings: Analysis,
) -> AggregateSummary:
    label = f"{metric.name} {aggregate.name}"
    if not items:
        why = f"no trial of {condition} recorded {metric.name!r}"
        return AggregateSummary(
            aggregate.name, label, condition, _NAN, (_NAN, _NAN), "none", (why,)
        )
    try:
        if aggregate.kind == "percentile":
            resamples = _resamples(sum(v.size for v in items))
            result = percentile_ci(
                items, aggregate.value, clusters, level=settings.level, n_resamples=resamples
            )
        else:
            if metric.kind != "binary" or not all(np.isin(v, (0, 1)).all() for v in items):
                raise StatsError(
                    f"{aggregate.name} needs pass/fail outcomes (0 or 1, or booleans); "
                    f"{metric.name} recorded other values"
                )
            result = pass_at_k_ci(items, aggregate.value, clusters, level=settings.level)
    except StatsError as error:
        # pass@K counts an item's passed repeats: a failed trial leaves its item one short
        counted = ", counting passed trials only" if aggregate.kind == "pass_at_k" else ""
        why = f"{label} of {condition}{counted}: {error}"
        return AggregateSummary(
            aggregate.name, label, condition, _NAN, (_NAN, _NAN), "none", (why,)
        )
    return _summary(aggregate.name, label, condition, result)


def _resamples(n_values: int) -> int:
    """Resamples of a percentile's bootstrap: each costs a pass over every trial value, so
    fewer above _MANY_VALUES (1,999 still gives stable 95% percentile intervals)."""
    return _RESAMPLES if n_values <= _MANY_VALUES else _FEWER_RESAMPLES


def _summary(name: str, label: str, condition: str, result: BootstrapCI) -> AggregateSummary:
    notes = result.notes
    if result.n_resamples and result.n_resamples != _RESAMPLES:
        notes = (*notes, f"{result.n_resamples:,} bootstrap resamples (many trial values)")
    method = f"bootstrap {result.method}" if result.n_resamples else f"{result.method} method"
    return AggregateSummary(name, label, condition, result.estimate, result.ci, method, notes)


def _per_item(
    passed: pd.DataFrame, condition: str, column: str
) -> tuple[list[np.ndarray], list[str] | None]:
    """The condition's recorded values of one metric, grouped by item (sorted by id)."""
    import pandas as pd

    mine = passed[passed["condition"].astype(str) == condition]
    values = pd.to_numeric(mine[column], errors="coerce")
    mine = mine.assign(_value=values)[values.notna()]
    columns, clusters = _by_item(mine, ["_value"])
    return columns["_value"], clusters


def _by_item(
    frame: pd.DataFrame, columns: Sequence[str]
) -> tuple[dict[str, list[np.ndarray]], list[str] | None]:
    """Each column's values split by item (items sorted by id), and each item's cluster, or
    None when items have none (each item is then its own unit of the bootstrap)."""
    import pandas as pd

    if frame.empty:
        return {c: [] for c in columns}, None
    ids = frame["item_id"].astype(str).to_numpy()
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    split = {c: np.split(frame[c].to_numpy(np.float64)[order], starts[1:]) for c in columns}
    if "cluster" not in frame.columns or not frame["cluster"].notna().any():
        return split, None
    first = frame.groupby(frame["item_id"].astype(str), sort=True)["cluster"].first()
    items = [str(ordered[start]) for start in starts]
    return split, [
        f"item:{item}" if pd.isna(first.get(item)) else str(first[item]) for item in items
    ]


def _passed(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[_passed_mask(trials)]


def _passed_mask(trials: pd.DataFrame) -> pd.Series:
    import pandas as pd

    if "status" not in trials.columns:
        return pd.Series(True, index=trials.index)
    return trials["status"].eq("passed")


def _cost_column(trials: pd.DataFrame) -> str | None:
    """The trials' cost column (renamed trial_cost_usd when a metric is called cost_usd),
    or None when no trial has a cost."""
    for column in (f"trial_{COST_COLUMN}", COST_COLUMN):
        if column in trials.columns:
            values = trials[column]
            has_cost = bool(values.notna().any()) and math.isfinite(float(values.fillna(0).sum()))
            return column if has_cost else None
    return None
