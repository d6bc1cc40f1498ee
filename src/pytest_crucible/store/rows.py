"""How trial results become rows of the store's tables, and the INSERTs that write them.

A batch of results becomes one multi-row INSERT per table (`table_rows`, `insert_rows`), not
a few statements per trial: SQLite releases the GIL for every statement it steps, and taking
it back from pytest's busy main thread is what a write costs the run.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pytest_crucible.store.records import (
    TRIAL_PRIMARY_KEY,
    USAGE_COUNTS,
    TrialRecord,
    column_names,
)

__all__ = ["BatchRows", "Job", "batch_rows", "dump", "insert_rows", "table_rows", "utc_now"]

Row = tuple[Any, ...]
Job = tuple[str, TrialRecord, str]  # (run_id, record, worker): one trial to store
Statement = tuple[str, str]  # (head, tail) of an INSERT; the VALUES rows go between them


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


# rows per INSERT statement (SQLite's parameter limit may allow fewer: 32,766 parameters by
# default since 3.32, 999 before)
_MAX_ROWS = 512

_INSERT_ITEMS = (
    "INSERT OR IGNORE INTO items(run_id, item_id, input, expected, metadata, cluster)",
    "",
)
_WRITTEN = column_names(written=True)
_UPDATED = [name for name in _WRITTEN if name not in TRIAL_PRIMARY_KEY]
_UPSERT_TRIALS = (
    f"INSERT INTO trials({', '.join(_WRITTEN)})",
    f"ON CONFLICT({', '.join(TRIAL_PRIMARY_KEY)}) DO UPDATE SET "
    + ", ".join(["attempts = trials.attempts + 1", *(f"{n} = excluded.{n}" for n in _UPDATED)]),
)
_INSERT_CALLS = (
    "INSERT OR IGNORE INTO model_calls(cache_key, backend, model, request, response, run_id,"
    " trial_key, created_at)",
    "",
)
_INSERT_LOGS = (
    "INSERT INTO logs(run_id, trial_key, condition, item_id, repeat, level, message, meta,"
    " created_at)",
    "",
)


def _item_row(run_id: str, record: TrialRecord, item: Mapping[str, Any]) -> Row:
    return (
        run_id,
        record.item_id,
        dump(item.get("input")),
        dump(item.get("expected")),
        dump(item.get("metadata")),
        record.cluster,
    )


def _call_rows(run_id: str, record: TrialRecord) -> list[Row]:
    return [
        (
            call["cache_key"],
            call["backend"],
            call["model"],
            dump(call["request"]),
            dump(call["response"]),
            run_id,
            record.key,
            utc_now(),
        )
        for call in record.model_calls
    ]


def _log_rows(run_id: str, record: TrialRecord) -> list[Row]:
    return [
        (
            run_id,
            record.key,
            record.condition,
            record.item_id,
            record.repeat,
            log["level"],
            log["message"],
            dump(log.get("meta")),
            iso(log.get("at")) or utc_now(),
        )
        for log in record.logs
    ]


def _call_counts(usage: Mapping[str, Any]) -> dict[str, Any]:
    """What the trials.usage column keeps."""
    return {name: usage[name] for name in USAGE_COUNTS if name in usage}


def _trial_row(run_id: str, record: TrialRecord, worker: str) -> Row:
    """The values of `_WRITTEN`, in its order (the round trip in tests/test_records.py
    checks that they line up)."""
    usage = record.usage or {}
    return (
        run_id,
        record.condition,
        record.item_id,
        record.repeat,
        record.key,
        record.cluster,
        record.status,
        dump(record.metrics),
        dump(record.results),
        dump(record.output),
        dump(record.error),
        record.calls,
        record.latency_s,
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        usage.get("cost_usd"),
        dump(_call_counts(usage)) if usage else None,
        dump(record.artifacts),
        dump(record.warnings),
        dump(record.recovery),
        worker,
        iso(record.started_at),
        iso(record.ended_at),
    )


class BatchRows(NamedTuple):
    """The rows a batch of trials adds to each table, in the order to insert them (items
    before the trials that refer to them); every backend inserts these."""

    items: list[Row]  # run_id, item_id, input, expected, metadata, cluster
    trials: list[Row]  # the values of column_names(written=True)
    calls: list[Row]  # cache_key, backend, model, request, response, run_id, trial_key, at
    logs: list[Row]  # run_id, trial_key, condition, item_id, repeat, level, message, meta, at


def batch_rows(batch: Sequence[Job]) -> BatchRows:
    """The rows of (run_id, record, worker) jobs for each table."""
    items: list[Row] = []
    trials: list[Row] = []
    calls: list[Row] = []
    logs: list[Row] = []
    for run_id, record, worker in batch:
        if record.item is not None:  # sent once per item and process
            items.append(_item_row(run_id, record, record.item))
        trials.append(_trial_row(run_id, record, worker))
        calls.extend(_call_rows(run_id, record))
        logs.extend(_log_rows(run_id, record))
    return BatchRows(items, trials, calls, logs)


def table_rows(batch: Sequence[Job]) -> list[tuple[Statement, list[Row]]]:
    """The SQLite INSERTs of (run_id, record, worker) jobs with their rows, in order."""
    rows = batch_rows(batch)
    return [
        (_INSERT_ITEMS, rows.items),
        (_UPSERT_TRIALS, rows.trials),
        (_INSERT_CALLS, rows.calls),
        (_INSERT_LOGS, rows.logs),
    ]


def insert_rows(conn: sqlite3.Connection, statement: Statement, rows: Sequence[Row]) -> None:
    """INSERT `rows` in a few statements of power-of-two row counts (at most 512, and within
    SQLite's parameter limit): few statements per batch, and few distinct ones for the
    connection's statement cache (each cached statement keeps its program)."""
    if not rows:
        return
    head, tail = statement
    width = len(rows[0])
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
    start = 0
    while start < len(rows):
        count = min(_MAX_ROWS, 1 << ((len(rows) - start).bit_length() - 1))
        while count > max(1, limit):
            count //= 2
        part = rows[start : start + count]
        values = ", ".join(["(" + ", ".join("?" * width) + ")"] * count)
        conn.execute(f"{head} VALUES {values} {tail}", [v for row in part for v in row])
        start += count


# One encoder for every column: json.dumps(value, default=...) builds a new one per call, and
# the writer thread encodes several columns per trial while holding the GIL.
_ENCODE = json.JSONEncoder(default=repr).encode


def dump(value: Any) -> str | None:
    if value is None:
        return None
    if not value and isinstance(value, list | dict):
        return "[]" if isinstance(value, list) else "{}"
    return _ENCODE(value)
