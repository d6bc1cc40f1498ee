"""How the PostgreSQL store writes batches of trials (`PostgresStore.record_trials` and
`import_trials`, postgres.py): the statements, built once at import, and the helpers that
send a batch's rows.

Each table a batch adds rows to gets one unnest statement (one round trip for the batch);
a trial key met twice in one batch is upserted row by row, in order, so that each occurrence
counts as an attempt. Importing keeps the trials already stored (ON CONFLICT DO NOTHING,
also against another process storing them meanwhile).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg

from pytest_crucible.store.postgres_values import safe_row as _safe_row
from pytest_crucible.store.postgres_values import text_columns, unnest_insert
from pytest_crucible.store.postgres_values import value_marks as _values
from pytest_crucible.store.records import TRIAL_COLUMNS, TRIAL_PRIMARY_KEY, column_names
from pytest_crucible.store.rows import Job, Row, batch_rows

__all__ = ["CALLS", "ITEMS", "LOGS", "import_new_trials", "insert_many", "upsert_trials"]

_WRITTEN = column_names(written=True)
_JSON = frozenset(column_names(json=True))
_UPDATED = [name for name in _WRITTEN if name not in TRIAL_PRIMARY_KEY]

_TRIAL_KINDS = "".join("j" if name in _JSON else "t" for name in _WRITTEN)
_INSERT_TRIALS = f"INSERT INTO trials({', '.join(_WRITTEN)}) VALUES {_values(_TRIAL_KINDS)}"
_PG_TYPES = {"INTEGER": "bigint", "REAL": "double precision", "TEXT": "text"}
_TRIAL_TYPES = [
    "jsonb" if column.json else _PG_TYPES[column.sql.partition(" ")[0]]
    for column in TRIAL_COLUMNS
    if column.written
]
_CONFLICT_UPDATE = f" ON CONFLICT ({', '.join(TRIAL_PRIMARY_KEY)}) DO UPDATE SET " + ", ".join(
    ["attempts = trials.attempts + 1", *(f"{n} = EXCLUDED.{n}" for n in _UPDATED)]
)
_UPSERT_TRIALS = f"{_INSERT_TRIALS}{_CONFLICT_UPDATE}"
_UPSERT_TRIALS_UNNESTED = unnest_insert("trials", _WRITTEN, _TRIAL_TYPES, _CONFLICT_UPDATE)
_KEY_AT = [_WRITTEN.index(name) for name in TRIAL_PRIMARY_KEY]


class _Table(NamedTuple):
    """A table a batch of trials adds rows to, written with one unnest statement."""

    statement: str
    kinds: str  # `safe_row`'s letter per column
    types: tuple[str, ...]


def _table(name: str, columns: str, types: str, tail: str = "") -> _Table:
    names, kinds = columns.split(), tuple(types.split(","))
    kind_letters = "".join("j" if kind == "jsonb" else "t" for kind in kinds)
    return _Table(unnest_insert(name, names, kinds, tail), kind_letters, kinds)


ITEMS = _table(
    "items",
    "run_id item_id input expected metadata cluster",
    "text,text,jsonb,jsonb,jsonb,text",
    " ON CONFLICT DO NOTHING",
)
CALLS = _table(
    "model_calls",
    "cache_key backend model request response run_id trial_key created_at",
    "text,text,text,jsonb,jsonb,text,text,text",
    " ON CONFLICT DO NOTHING",
)
LOGS = _table(
    "logs",
    "run_id trial_key condition item_id repeat level message meta created_at",
    "text,text,text,text,bigint,text,text,jsonb,text",
)


def import_new_trials(cursor: psycopg.Cursor[tuple[Any, ...]], batch: Sequence[Job]) -> list[Job]:
    """Store the trials of `batch` whose run is stored and that are not; those it stored."""
    cursor.execute(
        "SELECT run_id FROM runs WHERE run_id = ANY(%s)",
        (sorted({run_id for run_id, _, _ in batch}),),
    )
    runs = {row[0] for row in cursor.fetchall()}
    added = _new_trials(cursor, [job for job in batch if job[0] in runs])
    rows = batch_rows(added)
    insert_many(cursor, ITEMS, rows.items)
    insert_many(cursor, CALLS, rows.calls)
    insert_many(cursor, LOGS, rows.logs)
    return added


def _new_trials(cursor: psycopg.Cursor[tuple[Any, ...]], jobs: Sequence[Job]) -> list[Job]:
    """Insert the trials of `jobs` that are not stored; the jobs it inserted."""
    added = []
    for job, row in zip(jobs, batch_rows(jobs).trials, strict=True):
        cursor.execute(
            f"{_INSERT_TRIALS} ON CONFLICT DO NOTHING RETURNING 1",
            _safe_row(row, _TRIAL_KINDS),
        )
        if cursor.fetchone() is not None:
            added.append(job)
    return added


def _insert(
    cursor: psycopg.Cursor[tuple[Any, ...]], statement: str, kinds: str, rows: list[Row]
) -> None:
    """INSERT `rows`, one statement each, sent in one pipeline (psycopg's executemany): no
    round trip per row, and an upsert that meets one trial twice counts both attempts.
    (Multi-row VALUES statements measured slower: psycopg adapts each one anew.)"""
    if rows:
        cursor.executemany(statement, [_safe_row(row, kinds) for row in rows])


def insert_many(cursor: psycopg.Cursor[tuple[Any, ...]], table: _Table, rows: list[Row]) -> None:
    if rows:
        cursor.execute(table.statement, text_columns(rows, table.kinds, table.types))


def upsert_trials(cursor: psycopg.Cursor[tuple[Any, ...]], rows: list[Row]) -> None:
    """Upsert trial rows: those whose key is once in the batch (nearly all) in one unnest
    statement; a key met twice (a trial run again before the writer caught up) one row at a
    time in order, so that each occurrence counts as an attempt."""
    seen = Counter(tuple(row[at] for at in _KEY_AT) for row in rows)
    once = [row for row in rows if seen[tuple(row[at] for at in _KEY_AT)] == 1]
    if once:
        cursor.execute(_UPSERT_TRIALS_UNNESTED, text_columns(once, _TRIAL_KINDS, _TRIAL_TYPES))
    if len(once) < len(rows):
        again = [row for row in rows if seen[tuple(row[at] for at in _KEY_AT)] > 1]
        _insert(cursor, _UPSERT_TRIALS, _TRIAL_KINDS, again)
