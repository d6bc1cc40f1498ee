"""Load stored results into pandas: one row per trial, one column per metric."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import StoreError
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.opening import DEFAULT_STORE, open_store
from pytest_crucible.store.records import USAGE_COUNTS, column_names

if TYPE_CHECKING:  # pandas is imported when a frame is built, not when pytest starts
    import pandas as pd

__all__ = ["flat_trials", "load_runs", "load_trials", "trials_frame"]

_FIXED_COLUMNS = column_names(json=False) + USAGE_COUNTS


def load_trials(
    run_id: str | None = None,
    *,
    experiment: str | None = None,
    store: str | Path = DEFAULT_STORE,
    include_outputs: bool = True,
) -> pd.DataFrame:
    """The trials of a run as a DataFrame, metrics expanded into one column each.

    With no `run_id`, the latest run (of `experiment`, if given). Columns: run_id, condition,
    item_id, repeat, trial_key, cluster, status, attempts, calls, latency_s, tokens, cost_usd,
    worker, timestamps, model_calls, cache_hits (answers from the recording or the call
    cache), truncated (answers cut at max_tokens), truncated_at (the largest max_tokens that
    cut one), results (the trial's `trial.result(key, value)` values as a dict, or None),
    error_type (the type of a failed trial's error, e.g. TrialTimeout), then (with
    include_outputs) output and error as Python values, then one column per metric
    (floats; booleans become 0.0 / 1.0; NaN where a trial did not record it)."""
    with closing(open_store(store, readonly=True)) as opened:
        if run_id is None:
            runs = opened.runs(experiment)
            if not runs:
                which = f"of experiment {experiment!r} " if experiment else ""
                raise StoreError(f"store {opened.location} holds no runs {which}yet")
            run_id = runs[0].run_id
        elif opened.run(run_id) is None:
            known = ", ".join(r.run_id for r in opened.runs(experiment)[:10]) or "(none)"
            raise StoreError(f"store {opened.location} has no run {run_id!r}; runs: {known}")
        return trials_frame(opened, run_id, include_outputs=include_outputs)


def trials_frame(store: ResultStore, run_id: str, *, include_outputs: bool = False) -> pd.DataFrame:
    """The trials of one run of an open store (see `load_trials`)."""
    return frame_of(store.trial_table(run_id, include_outputs=include_outputs), include_outputs)


def trials_frame_and_lines(store: ResultStore, run_id: str) -> tuple[pd.DataFrame, list[str]]:
    """The trials of one run with outputs, and their results.jsonl lines, in one read."""
    records = store.trial_table(run_id, include_outputs=True, with_lines=True)
    lines = [record.pop("line") for record in records]
    return frame_of(records, include_outputs=True), lines


def frame_of(records: list[dict[str, Any]], include_outputs: bool) -> pd.DataFrame:
    """The frame of `ResultStore.trial_table`'s records."""
    import pandas as pd

    metric_names: dict[str, None] = {}
    for record in records:
        for name, value in record.pop("metrics").items():
            metric_names.setdefault(name, None)
            record[f"metric:{name}"] = float(value)
    frame = pd.DataFrame.from_records(records, columns=_columns(include_outputs, metric_names))
    frame = frame.rename(columns=_shadowed(metric_names, frame.columns))
    frame = frame.rename(columns={f"metric:{m}": m for m in metric_names})
    frame.attrs["metrics"] = list(metric_names)
    return frame


def _shadowed(metric_names: Iterable[str], columns: Iterable[str]) -> dict[str, str]:
    """A metric keeps its name; a fixed column it shadows (say latency_s) becomes
    trial_<name>: the renaming of those columns."""
    fixed = set(columns)
    return {m: f"trial_{m}" for m in metric_names if m in fixed}


def flat_trials(store: ResultStore, run_id: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, one dict per trial): every stored column of a run's trials, flattened as
    `load_trials` flattens them (without pandas): the usage counts and one column per metric
    (floats) in place of the `usage` and `metrics` JSON, the other JSON columns decoded."""
    metric_names: dict[str, None] = {}
    rows = []
    for stored in store.stored_trials(run_id):
        usage = stored.pop("usage", None) or {}
        metrics = stored.pop("metrics") or {}
        row = {**stored, **{name: usage.get(name) for name in USAGE_COUNTS}}
        error = stored.get("error")
        row["error_type"] = error.get("type") if isinstance(error, dict) else None
        for name, value in metrics.items():
            metric_names.setdefault(name, None)
            row[f"metric:{name}"] = None if value is None else float(value)
        rows.append(row)
    stored_columns = [c for c in rows[0] if not c.startswith("metric:")] if rows else []
    fixed = [c for c in _columns(True, {}) if c in stored_columns]
    fixed += [c for c in stored_columns if c not in fixed]  # artifacts, warnings, recovery...
    source = fixed + [f"metric:{m}" for m in metric_names]
    renamed = {**_shadowed(metric_names, fixed), **{f"metric:{m}": m for m in metric_names}}
    flat = [{renamed.get(c, c): row.get(c) for c in source} for row in rows]
    return [renamed.get(c, c) for c in source], flat


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The metric columns of a `trials_frame`, in the order metrics were first recorded."""
    return list(frame.attrs.get("metrics", []))


def _columns(include_outputs: bool, metric_names: dict[str, None]) -> list[str]:
    columns = [*_FIXED_COLUMNS, "results", "error_type"]
    if include_outputs:
        columns += ["output", "error"]
    return columns + [f"metric:{m}" for m in metric_names]


def load_runs(store: str | Path = DEFAULT_STORE, experiment: str | None = None) -> pd.DataFrame:
    """Every stored run (newest first), one row each with every field the run records:
    run_id, experiment, status, author, version, tags (a list), description, seed,
    fingerprint, dataset_fingerprint, git_commit, git_dirty, total_trials, stored_trials,
    passed_trials, sessions, started_at, ended_at (ISO 8601, UTC), and as Python values
    config, environment (python, platform, packages, git), header (conditions, metrics,
    repeat...) and analysis (None before the session-end analysis)."""
    import pandas as pd

    with closing(open_store(store, readonly=True)) as opened:
        runs = opened.run_table(experiment)
    return pd.DataFrame.from_records(runs, columns=_RUN_FRAME_COLUMNS)


_RUN_FRAME_COLUMNS = [
    "run_id",
    "experiment",
    "status",
    "author",
    "version",
    "tags",
    "description",
    "seed",
    "fingerprint",
    "dataset_fingerprint",
    "git_commit",
    "git_dirty",
    "total_trials",
    "stored_trials",
    "passed_trials",
    "sessions",
    "started_at",
    "ended_at",
    "config",
    "environment",
    "header",
    "analysis",
]
