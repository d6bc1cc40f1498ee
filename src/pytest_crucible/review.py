"""Reviewing a stored run: analyse every trial, store the analysis, render the summary.

This is the heavy end of a session (numpy, pandas, scipy, statsmodels). The pytest process
runs it in a child process (`python -m pytest_crucible.cli analyse RUN_ID`), so that those
libraries never load into the process that holds the session's reports; `crucible analyse`
runs the same code for any stored run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .frames import metric_columns, trials_frame
from .metrics import Analysis, Metric
from .store import Store

if TYPE_CHECKING:
    from .analysis import RunAnalysis

__all__ = ["analyse_run", "review_run"]


def analyse_run(store: Store, run_id: str) -> RunAnalysis:
    """The analysis of every stored trial of a run (reused ones included), saved with it."""
    from .analysis import analyze

    header = store.run_header(run_id)
    frame = trials_frame(store, run_id)
    declared = header.get("metrics") or {}
    metrics = {
        name: Metric(**declared[name]) if name in declared else Metric()
        for name in (list(declared) or metric_columns(frame))
        if name in frame.columns
    }
    conditions = list(header.get("conditions") or sorted(frame["condition"].unique()))
    result = analyze(
        frame,
        conditions=conditions,
        baseline=header.get("baseline"),
        metrics=metrics,
        settings=Analysis(**header.get("analysis", {})),
    )
    store.save_analysis(run_id, result.to_dict())
    return result


def review_run(store: Store, run_id: str) -> str:
    """Analyse a run and return its results table followed by the analysis, as text."""
    from .analysis import format_analysis
    from .summary import format_table

    result = analyse_run(store, run_id)
    table = format_table(trials_frame(store, run_id), result)
    return f"{table}\n\n{format_analysis(result)}"
