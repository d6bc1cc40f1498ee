"""Load stored results into pandas: one row per trial, one column per metric."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import StoreError
from pytest_crucible.store.sqlite import DEFAULT_STORE, Store

if TYPE_CHECKING:  # pandas is imported when a frame is built, not when pytest starts
    import pandas as pd

__all__ = ["load_runs", "load_trials", "trials_frame"]

_TRIAL_COLUMNS = (
    "run_id",
    "condition",
    "item_id",
    "repeat",
    "trial_key",
    "cluster",
    "status",
    "attempts",
    "calls",
    "latency_s",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "worker",
    "started_at",
    "ended_at",
)
# Counts kept in the trials.usage JSON (null when the trial made no model call; the column
# is missing from a store older than schema version 3 opened read-only).
_USAGE_COLUMNS = ("model_calls", "cache_hits", "truncated", "truncated_at")


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
    cut one), then (with include_outputs) output and
    error as Python values, then one column per metric (floats; booleans become 0.0 / 1.0;
    NaN where a trial did not record it)."""
    with closing(Store(store, readonly=True)) as opened:
        if run_id is None:
            runs = opened.runs(experiment)
            if not runs:
                which = f"of experiment {experiment!r} " if experiment else ""
                raise StoreError(f"store {opened.path} holds no runs {which}yet")
            run_id = runs[0].run_id
        elif opened.run(run_id) is None:
            known = ", ".join(r.run_id for r in opened.runs(experiment)[:10]) or "(none)"
            raise StoreError(f"store {opened.path} has no run {run_id!r}; runs: {known}")
        return trials_frame(opened, run_id, include_outputs=include_outputs)


def trials_frame(store: Store, run_id: str, *, include_outputs: bool = False) -> pd.DataFrame:
    """The trials of one run of an open store (see `load_trials`)."""
    extra = ", output, error" if include_outputs else ""
    usage = ", ".join(_usage_selects(store))
    rows = store.query(
        f"SELECT {', '.join(_TRIAL_COLUMNS)}, {usage}, metrics{extra} FROM trials"
        " WHERE run_id = ? ORDER BY condition, item_id, repeat",
        (run_id,),
    )
    import pandas as pd

    records: list[dict[str, Any]] = []
    metric_names: dict[str, None] = {}
    for row in rows:
        record = {name: row[name] for name in _FIXED_COLUMNS}
        if include_outputs:
            record["output"] = _load(row["output"])
            record["error"] = _load(row["error"])
        metrics = json.loads(row["metrics"])
        for name, value in metrics.items():
            metric_names.setdefault(name, None)
            record[f"metric:{name}"] = float(value)
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=_columns(include_outputs, metric_names))
    # A metric keeps its name; a fixed column it shadows (say latency_s) becomes trial_<name>.
    shadowed = {m: f"trial_{m}" for m in metric_names if m in frame.columns}
    frame = frame.rename(columns=shadowed)
    frame = frame.rename(columns={f"metric:{m}": m for m in metric_names})
    frame.attrs["metrics"] = list(metric_names)
    return frame


_FIXED_COLUMNS = _TRIAL_COLUMNS + _USAGE_COLUMNS


def _usage_selects(store: Store) -> list[str]:
    columns = {row[1] for row in store.query("PRAGMA table_info(trials)")}
    if "usage" not in columns:
        return [f"NULL AS {name}" for name in _USAGE_COLUMNS]
    return [f"json_extract(usage, '$.{name}') AS {name}" for name in _USAGE_COLUMNS]


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The metric columns of a `trials_frame`, in the order metrics were first recorded."""
    return list(frame.attrs.get("metrics", []))


def _columns(include_outputs: bool, metric_names: dict[str, None]) -> list[str]:
    columns = list(_FIXED_COLUMNS)
    if include_outputs:
        columns += ["output", "error"]
    return columns + [f"metric:{m}" for m in metric_names]


def load_runs(store: str | Path = DEFAULT_STORE, experiment: str | None = None) -> pd.DataFrame:
    """Every stored run (newest first) with its status and how many trials it holds."""
    import pandas as pd

    with closing(Store(store, readonly=True)) as opened:
        runs = opened.runs(experiment)
    return pd.DataFrame([run.__dict__ for run in runs])


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
