"""Reviewing a stored run: analyse every trial, store the analysis, render the summary.

This is the heavy end of a session (numpy, pandas, scipy, statsmodels). The pytest process
runs it in a child process (`python -m pytest_crucible.cli analyse RUN_ID`), so that those
libraries never load into the process that holds the session's reports; `crucible analyse`
runs the same code for any stored run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.declare.metrics import Analysis, Metric
from pytest_crucible.store.frames import metric_columns, trials_frame
from pytest_crucible.store.sqlite import Store

if TYPE_CHECKING:
    import pandas as pd

    from pytest_crucible.review.analysis import RunAnalysis
    from pytest_crucible.review.gates.decide import GateSettings

__all__ = ["Review", "analyse_run", "review_run", "stability_lines"]

_SHOWN_ITEMS = 10


def analyse_run(store: Store, run_id: str, trials: pd.DataFrame | None = None) -> RunAnalysis:
    """The analysis of every stored trial of a run (reused ones included), saved with it.
    `trials`: the run's `trials_frame`, when the caller has loaded it already."""
    from pytest_crucible.review.analysis import analyze

    header = store.run_header(run_id)
    frame = trials_frame(store, run_id) if trials is None else trials.copy()
    declared = header.get("metrics") or {}
    for name in declared:  # no trial recorded it (all failed, say): analyse it as missing
        if name not in frame.columns:
            frame[name] = float("nan")
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


def stability_lines(trials: pd.DataFrame, header: Mapping[str, Any]) -> list[str]:
    """Flaky items: for each 0/1 metric of a run with repeats, pass^k, flip rate and the
    items whose outcome changed between repeats, per condition."""
    if int(header.get("repeat", 1)) < 2 or trials.empty:
        return []
    from pytest_crucible.review.gates import GateError, stability

    lines = []
    for name, spec in (header.get("metrics") or {}).items():
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


@dataclass(frozen=True)
class Review:
    """What the session end shows of one run, and what decides its exit status."""

    run_id: str
    text: str
    gates: list[dict[str, Any]] = field(default_factory=list)
    gate_text: str = ""
    gate_markdown: str = ""
    reports: str | None = None
    report_error: str | None = None  # why the reports were not (all) written

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def review_run(
    store: Store,
    run_id: str,
    *,
    gates: GateSettings | None = None,
    report_root: Path | None = None,
    formats: Collection[str] = (),
) -> Review:
    """Analyse a run, decide its gates, write its reports; the text is the results table
    followed by the analysis."""
    from pytest_crucible.review.analysis import format_analysis
    from pytest_crucible.review.summary import format_table

    trials = trials_frame(store, run_id)
    result = analyse_run(store, run_id, trials)
    text = f"{format_table(trials, result)}\n\n{format_analysis(result)}"
    analysis = result.to_dict()
    flaky = stability_lines(trials, store.run_header(run_id))
    if flaky:
        text += "\n\n" + "\n".join(flaky)
    outcome = None
    if gates is not None:
        from pytest_crucible.review.gates.decide import gate_run

        outcome = gate_run(store, run_id, analysis, gates)
        analysis["gates"] = outcome.results
        store.save_analysis(run_id, analysis)
    reports, report_error = None, None
    if report_root is not None:
        reports, report_error = _write_reports(store, run_id, report_root, formats)
    if outcome is None:
        return Review(run_id, text, reports=reports, report_error=report_error)
    return Review(
        run_id,
        text,
        outcome.results,
        outcome.text,
        outcome.markdown,
        reports=reports,
        report_error=report_error,
    )


def _write_reports(
    store: Store, run_id: str, root: Path, formats: Collection[str]
) -> tuple[str | None, str | None]:
    """(the run's report folder, None), or (None, why its reports were not written): a
    report that fails must not take the analysis and the gates with it."""
    from pytest_crucible.review.reports import default_output_dir, write_reports

    out = default_output_dir(store.run_header(run_id)["name"], run_id, root)
    try:
        write_reports(store, run_id, out, formats)
    except Exception as exc:
        listed = ", ".join(formats) or "exports"
        return None, (
            f"its reports ({listed}) were not written to {out}/: {type(exc).__name__}: {exc}; "
            f"fix the cause, then write them with `crucible report {run_id} --output {out}`"
        )
    return str(out), None
