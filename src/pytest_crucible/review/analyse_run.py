"""Analysing a stored run: every trial (reused ones too) in, the stored analysis out; and
the stability of its 0/1 metrics over repeats, as lines of the session's summary.

This is the heavy end of a session (numpy, pandas, scipy, statsmodels): it runs in the
analysis child (`review/session_end.py`) and in `crucible analyse` / `crucible report`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pytest_crucible.declare.metrics import Analysis, Metric, declared_metrics
from pytest_crucible.review.stored_run import StoredRun, load_stored_run
from pytest_crucible.store import ResultStore
from pytest_crucible.store.frames import metric_columns

if TYPE_CHECKING:
    import pandas as pd

    from pytest_crucible.review.analysis import RunAnalysis

__all__ = ["analyse_run", "analysis_of", "stability_lines"]

_SHOWN_ITEMS = 10


def analyse_run(store: ResultStore, run_id: str, loaded: StoredRun | None = None) -> RunAnalysis:
    """The analysis of every stored trial of a run (reused ones included), saved with it.
    `loaded`: the run as the caller has loaded it already."""
    result = analysis_of(loaded or load_stored_run(store, run_id))
    store.save_analysis(run_id, result.to_dict())
    return result


def analysis_of(loaded: StoredRun) -> RunAnalysis:
    """The analysis of a loaded run, not saved (`crucible show` reads a store read-only)."""
    from pytest_crucible.review.analysis import analyze

    header = loaded.header
    frame = loaded.trials.copy()
    declared = declared_metrics(header)
    for name in declared:  # no trial recorded it (all failed, say): analyse it as missing
        if name not in frame.columns:
            frame[name] = float("nan")
    metrics = {
        name: Metric(**declared[name]) if name in declared else Metric()
        for name in (list(declared) or metric_columns(frame))
        if name in frame.columns
    }
    conditions = list(header.get("conditions") or sorted(frame["condition"].unique()))
    return analyze(
        frame,
        conditions=conditions,
        baseline=header.get("baseline"),
        metrics=metrics,
        settings=Analysis(**header.get("analysis", {})),
    )


def stability_lines(trials: pd.DataFrame, header: Mapping[str, Any]) -> list[str]:
    """Flaky items: for each 0/1 metric of a run with repeats, pass^k, flip rate and the
    items whose outcome changed between repeats, per condition."""
    if int(header.get("repeat", 1)) < 2 or trials.empty:
        return []
    from pytest_crucible.review.gates import GateError, stability

    lines = []
    for name, spec in declared_metrics(header).items():
        try:
            found = stability(trials, name, lower_is_better=bool(spec.get("lower_is_better")))
        except GateError:  # not a 0/1 metric
            continue
        lines.append(f"stability of {name} over repeats (pass^k: every repeat passes):")
        order = list(header.get("conditions") or [])
        ranked = sorted(
            found.conditions,
            key=lambda c: order.index(c.condition) if c.condition in order else len(order),
        )
        for condition in ranked:
            unstable = condition.unstable_items
            shown = ", ".join(unstable[:_SHOWN_ITEMS]) + (
                " ..." if len(unstable) > _SHOWN_ITEMS else ""
            )
            lines.append(
                f"  {condition.condition}: pass^{condition.k} {condition.pass_hat():.2f}, "
                f"flip rate {condition.flip_rate:.2f}, {len(unstable)} unstable items"
                + (f": {shown}" if unstable else "")
            )
    return lines
