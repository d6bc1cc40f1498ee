"""The shapes stored rows are given back in, whatever the backend: a run's fields, a trial's
row of `trial_table`, its line of results.jsonl. Each backend selects JSON columns as JSON
text (SQLite keeps text; PostgreSQL's JSONB is read as `::text`) and hands its rows here,
so that both give the same values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from pytest_crucible.store.records import USAGE_COUNTS, column_names
from pytest_crucible.store.rows import dump
from pytest_crucible.store.run_records import RunInfo
from pytest_crucible.store.schema import RUN_COLUMNS

__all__ = [
    "MERGED_CALL_COLUMNS",
    "MERGED_ITEM_COLUMNS",
    "MERGED_LOG_COLUMNS",
    "RUN_JSON",
    "Row",
    "decoded",
    "labels",
    "run_fields",
    "run_info",
    "trial_fields",
    "trial_line",
]

RUN_JSON = ("config", "header", "environment", "analysis", "tags")
# the columns `crucible merge` copies (`run_content` reads, `merge_content` writes), by table,
# on both backends (names of ours: safe to put in SQL text)
MERGED_ITEM_COLUMNS = ("run_id", "item_id", "input", "expected", "metadata", "cluster")
MERGED_LOG_COLUMNS = (
    "run_id",
    "trial_key",
    "condition",
    "item_id",
    "repeat",
    "level",
    "message",
    "meta",
    "created_at",
)
MERGED_CALL_COLUMNS = (
    "cache_key",
    "backend",
    "model",
    "request",
    "response",
    "run_id",
    "trial_key",
    "created_at",
)
PLAIN = column_names(json=False)
JSON_COLUMNS = frozenset(column_names(json=True))
EXPORTED = column_names(exported=True)


class Row(Protocol):
    """A row by column name (sqlite3.Row, or a dict)."""

    def keys(self) -> Any: ...

    def __getitem__(self, key: str) -> Any: ...


def decoded(text: str | None, default: Any = None) -> Any:
    """A JSON column's value; text that is not JSON (written by hand or by an older
    version) as it is."""
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return text


def labels(header: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """A run's author, version and tags (JSON) from its header (None from an older one)."""
    tags = header.get("tags")
    return header.get("author"), header.get("version"), dump(list(tags)) if tags else None


def run_fields(row: Row) -> dict[str, Any]:
    """One run's row as `run_table` gives it: every column (None where a store older than
    schema version 4, read-only, lacks it), JSON decoded, the trial counts named."""
    present = set(row.keys())
    fields: dict[str, Any] = {
        name: row[name] if name in present else None for name in (*RUN_COLUMNS, *RUN_JSON)
    }
    for name in RUN_JSON:
        fields[name] = decoded(fields[name])
    header = fields["header"] if isinstance(fields["header"], dict) else {}
    fields["description"] = header.get("description", "")
    fields["tags"] = list(fields["tags"] or header.get("tags") or [])
    fields["git_dirty"] = None if fields["git_dirty"] is None else bool(fields["git_dirty"])
    fields["stored_trials"], fields["passed_trials"] = row["stored"], row["passed"]
    return fields


def run_info(row: Row) -> RunInfo:
    """A run's row (with its `stored` and `passed` trial counts) as `runs` lists it."""
    return RunInfo(
        run_id=row["run_id"],
        experiment=row["experiment"],
        status=row["status"],
        seed=row["seed"],
        fingerprint=row["fingerprint"],
        total_trials=row["total_trials"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        sessions=row["sessions"],
        stored_trials=row["stored"],
        passed_trials=row["passed"],
    )


def trial_fields(row: Row, *, include_outputs: bool) -> dict[str, Any]:
    """A trial's row of `trial_table` from a row holding the plain columns, the usage
    counts, `error_type` and metrics, results (and output, error) as JSON text."""
    record = {name: row[name] for name in PLAIN + USAGE_COUNTS}
    record["results"] = decoded(row["results"])
    record["error_type"] = row["error_type"]
    if include_outputs:
        record["output"] = decoded(row["output"])
        record["error"] = decoded(row["error"])
    record["metrics"] = json.loads(row["metrics"])
    return record


def trial_line(run_id: str, row: Row) -> str:
    """A trial's line of results.jsonl from a row of its exported columns (JSON as text):
    metrics keep their types, a NaN becomes null (strict JSON)."""
    record: dict[str, Any] = {"run_id": run_id}
    for name in EXPORTED:
        value = row[name]
        if name in JSON_COLUMNS and value:
            value = json.loads(value, parse_constant=lambda _: None)  # NaN -> null
        record[name] = value
    return json.dumps(record, ensure_ascii=False, default=repr)


# the columns a new run's row sets, in the order of `new_run_row`
NEW_RUN_COLUMNS = (
    "run_id",
    "experiment",
    "status",
    "fingerprint",
    "dataset_fingerprint",
    "seed",
    "config",
    "header",
    "environment",
    "git_commit",
    "git_dirty",
    "total_trials",
    "started_at",
    "author",
    "version",
    "tags",
)
# the columns resuming a run sets again from the session's header, in `resumed_run_row` order
RESUMED_RUN_COLUMNS = (
    "fingerprint",
    "dataset_fingerprint",
    "config",
    "header",
    "total_trials",
    "author",
    "version",
    "tags",
)


def new_run_row(
    run_id: str, header: Mapping[str, Any], environment: Mapping[str, Any], status: str, now: str
) -> tuple[Any, ...]:
    """A new run's values of NEW_RUN_COLUMNS (JSON as text)."""
    git = environment.get("git") or {}
    return (
        run_id,
        header["name"],
        status,
        header["fingerprint"],
        header["dataset_fingerprint"],
        header["seed"],
        dump(header["config"]),
        dump(header),
        dump(environment),
        git.get("commit"),
        None if git.get("dirty") is None else int(git["dirty"]),
        header["total_trials"],
        now,
        *labels(header),
    )


def resumed_run_row(header: Mapping[str, Any]) -> tuple[Any, ...]:
    """A resumed run's values of RESUMED_RUN_COLUMNS (JSON as text)."""
    return (
        header["fingerprint"],
        header["dataset_fingerprint"],
        dump(header["config"]),
        dump(header),
        header["total_trials"],
        *labels(header),
    )
