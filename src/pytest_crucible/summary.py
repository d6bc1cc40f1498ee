"""The results table printed at session end: per condition, trials and metric means with CIs.

Repeats are averaged within each item first, then a t-interval is taken over items: treating
repeats as independent rows would make the interval too narrow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy, pandas and scipy load at session end, not when pytest starts
    import pandas as pd

__all__ = ["ConditionSummary", "MetricSummary", "format_table", "summarise"]


@dataclass(frozen=True)
class MetricSummary:
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    items: int


@dataclass(frozen=True)
class ConditionSummary:
    condition: str
    trials: int
    passed: int
    failed: int
    metrics: Mapping[str, MetricSummary]


def summarise(
    trials: pd.DataFrame, conditions: Sequence[str], metrics: Sequence[str], level: float = 0.95
) -> list[ConditionSummary]:
    """One summary per condition (in declaration order) from a `trials_frame`."""
    summaries = []
    for condition in conditions:
        rows = trials[trials["condition"] == condition]
        passed = rows[rows["status"] == "passed"]
        summaries.append(
            ConditionSummary(
                condition=condition,
                trials=len(rows),
                passed=len(passed),
                failed=int((rows["status"] == "failed").sum()),
                metrics={m: _metric(passed, m, level) for m in metrics},
            )
        )
    return summaries


def _metric(rows: pd.DataFrame, metric: str, level: float) -> MetricSummary:
    import numpy as np
    from scipy import stats as scipy_stats

    if metric not in rows.columns:
        return MetricSummary(None, None, None, 0)
    per_item = rows.groupby("item_id")[metric].mean().dropna().to_numpy(dtype=float)
    n = len(per_item)
    if n == 0:
        return MetricSummary(None, None, None, 0)
    mean = float(np.mean(per_item))
    if n < 2:
        return MetricSummary(mean, None, None, n)
    half = float(
        scipy_stats.t.ppf((1 + level) / 2, n - 1) * np.std(per_item, ddof=1) / math.sqrt(n)
    )
    return MetricSummary(mean, mean - half, mean + half, n)


def format_table(summaries: Sequence[ConditionSummary], metrics: Sequence[str]) -> str:
    """A plain-text table: condition, trials, passed, failed, then `mean [low, high]` per metric."""
    header = ["condition", "trials", "passed", "failed", *metrics]
    rows: list[list[str]] = [header]
    for s in summaries:
        rows.append(
            [
                s.condition,
                str(s.trials),
                str(s.passed),
                str(s.failed),
                *(_cell(s.metrics[m]) for m in metrics),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(summary: MetricSummary) -> str:
    if summary.mean is None:
        return "-"
    if summary.ci_low is None or summary.ci_high is None:
        return f"{_number(summary.mean)} (n={summary.items})"
    return f"{_number(summary.mean)} [{_number(summary.ci_low)}, {_number(summary.ci_high)}]"


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"


def as_json(summaries: Sequence[ConditionSummary]) -> list[dict[str, Any]]:
    return [
        {
            "condition": s.condition,
            "trials": s.trials,
            "passed": s.passed,
            "failed": s.failed,
            "metrics": {name: m.__dict__ for name, m in s.metrics.items()},
        }
        for s in summaries
    ]
