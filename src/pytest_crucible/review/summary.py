"""The results table printed at session end: per condition, its trials and metric means with CIs.

The means and intervals come from the session-end analysis (repeats averaged within each
item first, clustered when items carry a cluster key); this module only lays them out.

Trial counts are labelled in our own words (`stored`, `analysed`, `errors`), never pytest's
`passed` / `failed`, so that a metric named `passed` cannot be mistaken for a count: the
two groups of columns have a header row of their own, and a metric named like a count
column is marked `(metric)`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads at session end, not when pytest starts
    import pandas as pd

    from pytest_crucible.review.analysis import RunAnalysis
    from pytest_crucible.review.stored_run import StoredRun

__all__ = ["COUNT_COLUMNS", "format_table", "run_summary"]


def run_summary(run: StoredRun, analysis: RunAnalysis) -> str:
    """What the session end prints of a run (and `crucible show`): the results table, the
    analysis, then the items whose outcome changed between repeats."""
    from pytest_crucible.review.analyse_run import stability_lines
    from pytest_crucible.review.analysis import format_analysis

    text = f"{format_table(run.trials, analysis)}\n\n{format_analysis(analysis)}"
    flaky = stability_lines(run.trials, run.header)
    return text + ("\n\n" + "\n".join(flaky) if flaky else "")


# the trial-count columns: (label, trial statuses counted); `stored` counts every status
COUNT_COLUMNS = (("stored", None), ("analysed", "passed"), ("errors", "failed"))
_SKIPPED = ("skipped", "skipped")  # shown only when a trial was skipped
_COUNTS_FOOTNOTE = (
    "trials: stored = in the store for this run; analysed = passed, its metrics make the "
    "means; errors = failed (an exception or a failed assert), left out of the means"
)


def format_table(trials: pd.DataFrame, analysis: RunAnalysis) -> str:
    """condition, its trial counts, then `mean [low, high]` per metric; below the table,
    what the counts are and how each metric's intervals were computed."""
    from pytest_crucible.review.analysis._text import interval_lines

    counts = _count_columns(trials)
    labels = [label for label, _ in counts]
    metrics = [m.name for m in analysis.metrics]
    cells = {
        (summary.condition, metric.name): _cell(summary.mean, summary.ci)
        for metric in analysis.metrics
        for summary in metric.conditions
    }
    extras = _aggregate_cells(analysis)
    extra_labels = list(dict.fromkeys(label for label, _ in extras))
    header = [
        "condition",
        *labels,
        *(_metric_label(m, set(labels)) for m in metrics),
        *extra_labels,
    ]
    rows: list[list[str]] = [header]
    for condition in analysis.conditions:
        status = trials.loc[trials["condition"] == condition, "status"]
        rows.append(
            [
                condition,
                *(_count(status, wanted) for _, wanted in counts),
                *(cells.get((condition, m), "-") for m in metrics),
                *(extras.get((label, condition), "-") for label in extra_labels),
            ]
        )
    level = f"{round(analysis.settings.level * 100):g}%"
    groups = (
        "",
        "trials",
        f"mean [{level} CI]" if metrics else "",
        f"aggregates [{level} CI]" if extra_labels else "",
    )
    spans = (1, len(counts), len(metrics), len(extra_labels))
    footnote = _COUNTS_FOOTNOTE + ("; skipped = not run" if _SKIPPED in counts else "")
    return "\n".join(
        [
            _layout(rows, groups, spans),
            footnote,
            *_timeouts(trials),
            *interval_lines(analysis),
            *aggregate_lines(analysis),
        ]
    )


def _aggregate_cells(analysis: RunAnalysis) -> dict[tuple[str, str], str]:
    """(column label, condition) -> `value [low, high]` of the declared aggregates, then the
    costs (in US dollars)."""
    cells = {
        (a.label, a.condition): _cell(a.estimate, a.ci)
        for metric in analysis.metrics
        for a in metric.aggregates
    }
    for cost in analysis.costs:
        cells[(f"{cost.label} ($)", cost.condition)] = _cell(cost.estimate, cost.ci, _dollars)
    return cells


def aggregate_lines(analysis: RunAnalysis) -> list[str]:
    """Under the table: how the aggregates were computed, and why one is missing."""
    rows = [a for m in analysis.metrics for a in m.aggregates] + list(analysis.costs)
    if not rows:
        return []
    lines = [
        "aggregates: pNN = percentile of every trial value; pass@K = mean over items of the "
        "unbiased pass@K of each item's repeats; cost per trial = mean cost of every trial "
        "(failed ones too); cost per correct = total cost / correct answers; intervals: "
        "bootstrap over items with their repeats (docs/aggregates.md)"
    ]
    if any(row.method == "delta method" for row in rows):
        from pytest_crucible.stats._aggregates import RATIO_BOOTSTRAP_UNITS

        lines.append(
            f"note: a ratio over more than {RATIO_BOOTSTRAP_UNITS} items has the delta-method "
            "interval, which the bootstrap converges to, at a fraction of its cost"
        )
    seen: set[str] = set()
    for row in rows:
        if row.estimate != row.estimate:  # NaN: say why once
            for note in row.notes:
                if note not in seen:
                    seen.add(note)
                    lines.append(f"note: {note}")
    return lines


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


def _count_columns(trials: pd.DataFrame) -> list[tuple[str, str | None]]:
    counts = list(COUNT_COLUMNS)
    if bool((trials["status"] == "skipped").any()):
        counts.append(_SKIPPED)
    return counts


def _count(status: pd.Series, wanted: str | None) -> str:
    return str(len(status) if wanted is None else int((status == wanted).sum()))


def _metric_label(name: str, taken: set[str]) -> str:
    """A metric's column header: its name, marked when a count column has it too."""
    return f"{name} (metric)" if name in taken or name == "condition" else name


def _layout(rows: Sequence[Sequence[str]], groups: Sequence[str], spans: Sequence[int]) -> str:
    """The rows as aligned columns under a header row, with a row above it naming each
    group of columns (`groups[i]` spans `spans[i]` columns) and a rule below it."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [_group_row(groups, spans, widths)]
    for index, row in enumerate(rows):
        cells = [
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _group_row(groups: Sequence[str], spans: Sequence[int], widths: Sequence[int]) -> str:
    """Each group's name over its columns, left-aligned and ruled to their full width."""
    parts = []
    start = 0
    for name, span in zip(groups, spans, strict=True):
        width = sum(widths[start : start + span]) + 2 * (span - 1)
        start += span
        if span:
            parts.append(f"{name} ".ljust(width, "-") if name else " " * width)
    return "  ".join(parts).rstrip()


def _cell(
    mean: float, ci: tuple[float, float], number: Callable[[float], str] | None = None
) -> str:
    shown = number or _number
    if mean != mean:  # NaN: nothing recorded
        return "-"
    low, high = ci
    if low != low or high != high:
        return f"{shown(mean)} [too few items]"
    return f"{shown(mean)} [{shown(low)}, {shown(high)}]"


def _dollars(value: float) -> str:
    """A cost: three significant digits (a trial often costs a fraction of a cent)."""
    return f"{value:.3g}" if value != float("inf") else "inf"


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"
