"""The results table printed at session end: per condition, trials and metric means with CIs.

The means and intervals come from the session-end analysis (repeats averaged within each
item first, clustered when items carry a cluster key); this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads at session end, not when pytest starts
    import pandas as pd

    from pytest_crucible.review.analysis import RunAnalysis
    from pytest_crucible.review.stored_run import StoredRun

__all__ = ["format_table", "run_summary"]


def run_summary(run: StoredRun, analysis: RunAnalysis) -> str:
    """What the session end prints of a run (and `crucible show`): the results table, the
    analysis, then the items whose outcome changed between repeats."""
    from pytest_crucible.review.analyse_run import stability_lines
    from pytest_crucible.review.analysis import format_analysis

    text = f"{format_table(run.trials, analysis)}\n\n{format_analysis(analysis)}"
    flaky = stability_lines(run.trials, run.header)
    return text + ("\n\n" + "\n".join(flaky) if flaky else "")


def format_table(trials: pd.DataFrame, analysis: RunAnalysis) -> str:
    """condition, trials, passed, failed, then `mean [low, high]` per metric; below the
    table, how each metric's intervals were computed."""
    from pytest_crucible.review.analysis._text import interval_lines

    metrics = [m.name for m in analysis.metrics]
    cells = {
        (summary.condition, metric.name): _cell(summary.mean, summary.ci)
        for metric in analysis.metrics
        for summary in metric.conditions
    }
    rows: list[list[str]] = [["condition", "trials", "passed", "failed", *metrics]]
    for condition in analysis.conditions:
        status = trials.loc[trials["condition"] == condition, "status"]
        rows.append(
            [
                condition,
                str(len(status)),
                str(int((status == "passed").sum())),
                str(int((status == "failed").sum())),
                *(cells.get((condition, m), "-") for m in metrics),
            ]
        )
    return "\n".join([_layout(rows), *_timeouts(trials), *interval_lines(analysis)])


def _timeouts(trials: pd.DataFrame) -> list[str]:
    """A line under the table when trials ran out of time (they count as failed)."""
    if "error_type" not in trials.columns:
        return []
    timed_out = trials.loc[trials["error_type"] == "TrialTimeout", "condition"]
    if timed_out.empty:
        return []
    counts = ", ".join(f"{n} of {c}" for c, n in timed_out.value_counts(sort=False).items())
    return [
        f"timed out: {len(timed_out)} failed trial(s) ({counts}) hit their timeout; "
        "--crucible-retry-failed=RUN_ID runs them again"
    ]


def _layout(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
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


def _cell(mean: float, ci: tuple[float, float]) -> str:
    if mean != mean:  # NaN: nothing recorded
        return "-"
    low, high = ci
    if low != low or high != high:
        return f"{_number(mean)} [too few items]"
    return f"{_number(mean)} [{_number(low)}, {_number(high)}]"


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"
