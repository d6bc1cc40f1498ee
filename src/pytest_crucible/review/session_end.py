"""Reviewing stored runs: each run loaded once, analysed, gated, reported.

`review_runs` carries out a `ReviewRequest` for `crucible analyse` and for the session end.
The session runs it in a child process (`python -m pytest_crucible.review --await-request`,
which calls `main`), so that numpy, pandas and scipy never load into the process that holds
the session's reports: the child starts with the session's first trial, imports the analysis
stack while the trials run, then reads its request from stdin and answers one `Review` per
run as a JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.request import (
    AWAIT_REQUEST,
    CHILD_MODULE,
    Review,
    ReviewRequest,
    ReviewStatus,
)
from pytest_crucible.review.stored_run import StoredRun, load_stored_run
from pytest_crucible.store import ResultStore, open_store
from pytest_crucible.store.journal import import_journals

__all__ = ["main", "review_run", "review_runs"]


def main(argv: Sequence[str] | None = None) -> int:
    """The analysis child: import what an analysis needs, then carry out the request that
    arrives on stdin as one JSON line (nothing arrives when the session had no run to
    analyse).

    Its imports run beside the trials: at a lower priority, so that on a machine with few
    cores they give way to the pytest process. (Nothing competes with the analysis itself:
    the session only waits for it.)"""
    if list(sys.argv[1:] if argv is None else argv) != [AWAIT_REQUEST]:
        print(f"usage: python -m {CHILD_MODULE} {AWAIT_REQUEST}", file=sys.stderr)
        return ReviewStatus.USAGE_ERROR
    if hasattr(os, "nice"):
        os.nice(10)
    # what every review needs (numpy, pandas, scipy, statsmodels: 2-4 s); these modules
    # import it on first use, so the modules that use it are imported here
    import pytest_crucible.review.analysis
    import pytest_crucible.review.gates._evaluate
    import pytest_crucible.review.reports  # noqa: F401

    line = sys.stdin.readline()
    if not line.strip():
        return ReviewStatus.OK
    request = ReviewRequest.from_json(json.loads(line))
    try:
        return review_runs(request, lambda review: print(json.dumps(review.to_json())))
    except CrucibleError as exc:
        print(f"crucible: {exc}", file=sys.stderr)
        return ReviewStatus.USAGE_ERROR


def review_runs(request: ReviewRequest, show: Callable[[Review], None]) -> ReviewStatus:
    """Review each requested run and `show` it; GATE_FAILED when a gate failed,
    INTERNAL_ERROR when a run's analysis or reports failed (the error goes to stderr; the
    other runs are still reviewed). An unknown run raises CrucibleError before any review."""
    store = open_store(request.store, side_folder=request.side_folder)
    failed = broken = False
    try:
        _import_quietly(store)
        # every run's declared gates are decided; `EXPERIMENT:EXPR` gates name these
        experiments = tuple(dict.fromkeys(_experiment_of(store, r) for r in request.run_ids))
        for run_id in request.run_ids:
            review = _review_or_none(store, run_id, request, experiments)
            if review is None:
                broken = True
                continue
            if review.report_error:
                print(f"crucible: run {run_id}: {review.report_error}", file=sys.stderr)
                broken = True
            failed = failed or review.gate_failed
            if request.gate_summary and review.gate_markdown:
                with open(request.gate_summary, "a", encoding="utf-8") as summary:
                    summary.write(review.gate_markdown + "\n")
            show(review)
    finally:
        store.close()
    if broken:
        return ReviewStatus.INTERNAL_ERROR
    return ReviewStatus.GATE_FAILED if failed else ReviewStatus.OK


def _review_or_none(
    store: ResultStore, run_id: str, request: ReviewRequest, experiments: Sequence[str]
) -> Review | None:
    """The run's review, or None (said on stderr) when a bug of ours broke it."""
    try:
        return review_run(store, run_id, request=request, experiments=experiments)
    except CrucibleError:
        raise
    except Exception:  # a bug of ours: say so, and go on with the other runs
        print(f"crucible: the analysis of run {run_id} failed:", file=sys.stderr)
        traceback.print_exc()
        return None


def review_run(
    store: ResultStore, run_id: str, *, request: ReviewRequest, experiments: Sequence[str] = ()
) -> Review:
    """Load the run once; analyse it, decide its gates, write its reports. The text is the
    results table followed by the analysis."""
    from pytest_crucible.review.analyse_run import analyse_run
    from pytest_crucible.review.gates.decide import gate_run
    from pytest_crucible.review.summary import run_summary

    run = load_stored_run(store, run_id, with_outputs=request.reports is not None)
    result = analyse_run(store, run_id, run)
    text = run_summary(run, result)
    analysis = result.to_dict()
    outcome = gate_run(store, run, analysis, request.gating, experiments)
    analysis["gates"] = [gate.to_dict() for gate in outcome.results]
    store.save_analysis(run_id, analysis)
    reports, report_error = None, None
    if request.reports is not None:
        reports, report_error = _write_reports(store, run, request.reports, request.formats)
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
    store: ResultStore, run: StoredRun, root: Path, formats: Collection[str]
) -> tuple[str | None, str | None]:
    """(the run's report folder, None), or (None, why its reports were not written): a
    report that fails must not take the analysis and the gates with it."""
    from pytest_crucible.review.reports import default_output_dir, write_reports

    out = default_output_dir(run.header["name"], run.run_id, root)
    try:
        write_reports(store, run.run_id, out, formats, run)
    except Exception as exc:
        listed = ", ".join(formats) or "exports"
        return None, (
            f"its reports ({listed}) were not written to {out}/: {type(exc).__name__}: {exc}; "
            f"fix the cause, then write them with `crucible report {run.run_id} --output {out}`"
        )
    return str(out), None


def _import_quietly(store: ResultStore) -> None:
    """Before an analysis: store what waits in journals, said on stderr."""
    imported = import_journals(store)
    if imported.message():
        print(f"crucible: {imported.message()}", file=sys.stderr)


def _experiment_of(store: ResultStore, run_id: str) -> str:
    run = store.run(run_id)
    if run is None:
        raise CrucibleError(f"store {store.location} has no run {run_id!r}; see `crucible runs`")
    return run.experiment
