"""The aggregates table of the reports: per condition, the declared aggregates of each metric
(percentiles, pass@K) and the cost per trial and per correct answer, each with its bootstrap
interval, read from the stored analysis (`RunAnalysis.aggregates` / `costs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_crucible.review.reports._format import finite, num, usd

__all__ = ["AGGREGATES_NOTE", "AggregateTable", "aggregate_table"]

AGGREGATES_NOTE = (
    "pNN: percentile of every trial value; pass@K: mean over items of the unbiased pass@K "
    "(Chen et al. 2021) of each item's repeats; cost per trial: mean cost of every trial, "
    "failed ones too; cost per correct: total cost / correct answers. Intervals: bootstrap "
    "over items, each with all its repeats (whole clusters when items have one)."
)


@dataclass(frozen=True)
class AggregateTable:
    """columns: the headers ("latency_s p95", "cost per trial ($)"); rows: (condition, cells),
    each cell "value [low, high]" or "-"; notes: why a cell is "-"."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    notes: tuple[str, ...]
    legend: str = AGGREGATES_NOTE


def aggregate_table(analysis: dict[str, Any]) -> AggregateTable | None:
    """The table, or None when the run has no aggregate beyond the mean and no cost."""
    entries = [(a, False) for m in analysis.get("metrics") or [] for a in m.get("aggregates") or []]
    entries += [(c, True) for c in analysis.get("costs") or []]
    if not entries:
        return None
    cells: dict[tuple[str, str], str] = {}
    notes: list[str] = []
    for entry, is_cost in entries:
        label = str(entry["label"]) + (" ($)" if is_cost else "")
        cells[(label, str(entry["condition"]))] = _cell(entry, is_cost)
        if finite(entry.get("estimate")) is None:
            notes += [str(n) for n in entry.get("notes") or [] if str(n) not in notes]
    columns = tuple(dict.fromkeys(label for label, _ in cells))
    conditions = [str(c) for c in analysis.get("conditions") or []]
    rows = tuple(
        (condition, tuple(cells.get((column, condition), "-") for column in columns))
        for condition in conditions
    )
    return AggregateTable(columns, rows, tuple(notes))


def _cell(entry: dict[str, Any], is_cost: bool) -> str:
    estimate = finite(entry.get("estimate"))
    if estimate is None:
        return "-"
    ci = entry.get("ci") or [None, None]
    low, high = finite(ci[0]), finite(ci[1])
    shown = _dollars if is_cost else num
    if low is None or high is None:
        return f"{shown(estimate)} [too few items]"
    return f"{shown(estimate)} [{shown(low)}, {shown(high)}]"


def _dollars(value: float | None) -> str:
    return usd(value).removeprefix("$")
