"""Everything a report shows about one run, loaded from the store once.

The run's header and trials come as the review loaded them (`review/stored_run.py`), when it
did; this module adds what only the reports show: the run's row, its items and logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.reports._artifacts import stored_artifacts
from pytest_crucible.review.stored_run import StoredRun, load_stored_run
from pytest_crucible.store import ResultStore
from pytest_crucible.store.locations import is_database_url, quoted
from pytest_crucible.store.run_records import RunInfo

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ReportError", "RunData", "load_run"]


class ReportError(CrucibleError):
    """A report cannot be written: unknown format, unknown run, unreadable analysis."""


@dataclass(frozen=True)
class RunData:
    """One run as the report writers see it.

    analysis: `RunAnalysis.to_dict()` as stored with the run. trials: `trials_frame` with
    outputs (one row per trial, one float column per metric). items: item_id -> input,
    expected, metadata, cluster. logs: trial_key -> [(level, created_at, message)].
    row: the run's own columns (fingerprints, seed, git, timings, sessions).
    """

    run_id: str
    info: RunInfo
    header: dict[str, Any]
    config: Any
    environment: dict[str, Any]
    analysis: dict[str, Any]
    trials: pd.DataFrame
    items: dict[str, dict[str, Any]]
    logs: dict[str, list[tuple[str, str, str]]]
    row: dict[str, Any]
    store_location: str  # masked: shown in the README, the manifest and the notebook
    lines: tuple[str, ...] = ()  # results.jsonl: one JSON object per trial, as stored
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by trial_key

    @property
    def experiment(self) -> str:
        return self.info.experiment

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The analysed metrics, in declaration order."""
        return list(self.analysis.get("metrics") or [])

    @property
    def conditions(self) -> list[str]:
        return [str(c) for c in self.analysis.get("conditions") or []]

    @property
    def baseline(self) -> str | None:
        baseline = self.analysis.get("baseline")
        return None if baseline is None else str(baseline)

    def metric_column(self, name: str) -> str | None:
        """The trials column that holds a metric (None if no trial recorded it)."""
        return name if name in self.trials.columns else None

    def trial_column(self, name: str) -> str:
        """A fixed trial column (latency_s, cost_usd...), renamed when a metric shadows it."""
        renamed = f"trial_{name}"
        return renamed if renamed in self.trials.columns else name


def load_run(
    store: ResultStore, run_id: str, loaded: StoredRun | None = None, *, save_analysis: bool = True
) -> RunData:
    """Load a run; analyse it first (and store the analysis, unless `save_analysis` is False:
    a reader such as the dashboard never writes) if it has none yet. `loaded`: the run's
    header and trials with their outputs, when the caller has loaded them."""
    info = store.run(run_id)
    if info is None:
        known = ", ".join(r.run_id for r in store.runs()[:10]) or "(none)"
        raise ReportError(f"store {store.location} has no run {run_id!r}; runs: {known}")
    run = store.run_record(run_id)
    if loaded is None or not loaded.with_outputs:  # the reports show outputs and errors
        loaded = load_stored_run(store, run_id, with_outputs=True)
    return RunData(
        run_id=run_id,
        info=info,
        header=loaded.header,
        config=run.config,
        environment=run.environment,
        analysis=run.analysis
        if run.analysis is not None
        else _analyse(store, loaded, save_analysis),
        trials=loaded.trials,
        items=store.items(run_id),
        logs=store.logs(run_id),
        row=run.columns,
        store_location=_absolute(store.location),
        lines=loaded.lines,
        artifacts=stored_artifacts(loaded.lines),
    )


def _absolute(location: str) -> str:
    """A SQLite file's absolute path (the reports are read from elsewhere); a URL as it is."""
    return location if is_database_url(location) else str(Path(location).resolve())


def _analyse(store: ResultStore, loaded: StoredRun, save: bool) -> dict[str, Any]:
    run_id = loaded.run_id
    if not save:
        from pytest_crucible.review.analyse_run import analysis_of

        return analysis_of(loaded).to_dict()
    if store.readonly:
        raise ReportError(
            f"run {run_id} has no stored analysis and store {store.location} is open read-only; "
            f"run `crucible analyse {run_id} --store {quoted(store.location)}` first, or open "
            "it writable"
        )
    from pytest_crucible.review.analyse_run import analyse_run

    return analyse_run(store, run_id, loaded).to_dict()
