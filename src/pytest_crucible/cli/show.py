"""`crucible show RUN`: one run's summary, as the session end printed it.

The run's experiment, status, timings, git commit and trial counts, then the results table
and the analysis of the session end (`review/summary.py`), then the gate verdicts stored with
the run. Reads the store only: the analysis is computed again, not saved.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from pytest_crucible.cli._store import open_runs
from pytest_crucible.store import ResultStore
from pytest_crucible.store.run_records import RunRecord

__all__ = ["add_parser"]


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "show",
        parents=[shared],
        help="a run's summary: status, timings, git, trials, results table, gates",
        description=__doc__,
    )
    parser.add_argument(
        "run", metavar="RUN", help="a run id, a unique prefix of one, latest[:EXPERIMENT]"
    )
    parser.set_defaults(handler=_show)


def _show(options: argparse.Namespace) -> int:
    with open_runs(options, options.run) as (store, (run,)):
        print(_summary(store, run.run_id))
    return 0


def _summary(store: ResultStore, run_id: str) -> str:
    from pytest_crucible.review.analyse_run import analysis_of
    from pytest_crucible.review.stored_run import load_stored_run
    from pytest_crucible.review.summary import run_summary

    record = store.run_record(run_id)
    run = load_stored_run(store, run_id)
    statuses = {str(s): int(n) for s, n in run.trials["status"].value_counts().items()}
    parts = ["\n".join(_heading(record, statuses))]
    if len(run.trials):
        parts.append(run_summary(run, analysis_of(run)))
    else:
        parts.append("no trial stored yet: nothing to analyse")
    parts.append(_gates(record))
    return "\n\n".join(part for part in parts if part)


def _heading(record: RunRecord, statuses: dict[str, int]) -> list[str]:
    columns = record.columns
    stored = sum(statuses.values())
    counts = ", ".join(
        f"{statuses[s]} {s}" for s in ("passed", "failed", "skipped") if s in statuses
    )
    sessions = int(columns.get("sessions") or 1)
    return [
        f"run {columns['run_id']} of experiment {columns['experiment']}",
        f"  status    {columns['status']}"
        + (f" ({sessions} sessions: resumed)" if sessions > 1 else ""),
        f"  started   {_when(columns['started_at'])}",
        f"  duration  {_duration(columns['started_at'], columns['ended_at'], columns['status'])}",
        f"  git       {_git(columns.get('git_commit'), columns.get('git_dirty'))}",
        f"  trials    {stored} of {columns['total_trials']} stored"
        + (f": {counts}" if counts else ""),
    ]


def _when(stamp: str | None) -> str:
    return "?" if not stamp else stamp[:19].replace("T", " ") + " UTC"


def _duration(started: str | None, ended: str | None, status: str) -> str:
    if not started or not ended:
        return (
            "still running, or its process died (continue it with --crucible-resume)"
            if status == "running"
            else "not recorded"
        )
    seconds = (datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds()
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min (ended {_when(ended)})"
    if minutes:
        return f"{minutes} min {rest:02d} s (ended {_when(ended)})"
    return f"{seconds:.1f} s (ended {_when(ended)})"


def _git(commit: str | None, dirty: int | None) -> str:
    if not commit:
        return "not recorded (not a git checkout)"
    return commit[:12] + (" with uncommitted changes" if dirty else "")


def _gates(record: RunRecord) -> str:
    """The gate verdicts the session end stored with the run (none for a run whose analysis
    ran without gates)."""
    from pytest_crucible.review.gates import GateResult, format_text

    stored = (record.analysis or {}).get("gates") or []
    if not stored:
        return "gates: none decided at the session end"
    return format_text([GateResult.from_dict(gate) for gate in stored])
