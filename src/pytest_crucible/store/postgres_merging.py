"""The PostgreSQL store's side of `crucible merge` (issue 17, point 4; docs/cli.md): a
run's every row read in one snapshot, the call cache read, and stores' contents written
in one transaction; their semantics are in interface.py. `PostgresScale`
(postgres_scale.py), and so `PostgresStore` (postgres.py), inherits them.

JSON columns travel as JSON text, as the SQLite store keeps them, so the contents of either
backend merge into the other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg

from pytest_crucible.errors import StoreError
from pytest_crucible.store.postgres_reads import PostgresReads
from pytest_crucible.store.postgres_values import ORDERED_JSON, jsonb_text, safe_row, value_marks
from pytest_crucible.store.records import column_names
from pytest_crucible.store.run_records import StoredBaseline
from pytest_crucible.store.scale_records import RunContent
from pytest_crucible.store.schema import RUN_COLUMNS
from pytest_crucible.store.shapes import (
    MERGED_CALL_COLUMNS,
    MERGED_ITEM_COLUMNS,
    MERGED_LOG_COLUMNS,
    RUN_JSON,
    decoded,
)

__all__ = ["Cursor", "PostgresMerging"]

_T = TypeVar("_T")
Cursor = psycopg.Cursor[tuple[Any, ...]]

# the columns `merge_content` copies and `run_content` reads, by table
_RUN_TABLE = (*RUN_COLUMNS, *RUN_JSON)
_TRIAL_COLUMNS = column_names()
_JSON = frozenset(
    {*RUN_JSON, *column_names(json=True), "input", "expected", "metadata", "meta"}
    | {"request", "response", "data"}
)


def _select(columns: Sequence[str]) -> str:
    """A SELECT list giving JSON columns as JSON text, as the SQLite store keeps them."""
    return ", ".join(f"{name}::text AS {name}" if name in _JSON else name for name in columns)


class PostgresMerging(PostgresReads):
    """`crucible merge`'s reads and writes over `self._transact` (postgres.py)."""

    def _transact(self, work: Callable[[Cursor], _T]) -> _T:
        raise NotImplementedError  # postgres.py: `work` in a transaction, retried on deadlock

    def run_content(self, run_id: str) -> RunContent:
        """Every row of one run, read in one REPEATABLE READ transaction (one snapshot)."""
        with self._lock, _snapshot(self._connection()):
            runs = self._fetch(
                f"SELECT {_select(_RUN_TABLE)} FROM runs WHERE run_id = %s", (run_id,)
            )
            if not runs:
                raise StoreError(f"store {self.location} has no run {run_id!r}")
            return RunContent(
                run=runs[0],
                items=self._rows_of("items", MERGED_ITEM_COLUMNS, run_id, 'item_id COLLATE "C"'),
                trials=self._rows_of(
                    "trials",
                    _TRIAL_COLUMNS,
                    run_id,
                    'condition COLLATE "C", item_id COLLATE "C", repeat',
                ),
                logs=self._rows_of("logs", MERGED_LOG_COLUMNS, run_id, "id"),
                sessions=self.sessions(run_id),
            )

    def _rows_of(
        self, table: str, columns: Sequence[str], run_id: str, order: str
    ) -> list[dict[str, Any]]:
        return self._fetch(
            f"SELECT {_select(columns)} FROM {table} WHERE run_id = %s ORDER BY {order}",
            (run_id,),
        )

    def call_cache_entries(self) -> list[dict[str, Any]]:
        return self._fetch(
            f'SELECT {_select(MERGED_CALL_COLUMNS)} FROM model_calls ORDER BY cache_key COLLATE "C"'
        )

    def merge_content(
        self,
        runs: Sequence[RunContent],
        cache: Sequence[Mapping[str, Any]] = (),
        baselines: Sequence[tuple[StoredBaseline, Mapping[str, Any]]] = (),
    ) -> dict[str, int]:
        """One transaction: runs, then the call cache, then baselines (interface.py)."""

        def merge(cursor: Cursor) -> dict[str, int]:
            added = {content.run["run_id"]: _merge_run(cursor, content) for content in runs}
            for entry in cache:
                _insert(cursor, "model_calls", entry, MERGED_CALL_COLUMNS, "(cache_key) DO NOTHING")
            for baseline, document in baselines:
                row = {**vars(baseline), "data": json.dumps(document)}
                _insert(
                    cursor,
                    "baselines",
                    row,
                    ("name", "experiment", "run_id", "created_at", "data"),
                    "(name, experiment) DO UPDATE SET run_id = EXCLUDED.run_id,"
                    " created_at = EXCLUDED.created_at, data = EXCLUDED.data",
                )
            return added

        return self._transact(merge)


def _merge_run(cursor: Cursor, content: RunContent) -> int:
    """Write one run's rows (inside `merge_content`'s transaction); the trials added."""
    run = content.run
    run_id = run["run_id"]
    cursor.execute(
        "INSERT INTO experiments(name, description, created_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (name) DO NOTHING",
        (
            run["experiment"],
            decoded(run.get("header"), {}).get("description", ""),
            run["started_at"],
        ),
    )
    updated = [name for name in _RUN_TABLE if name in run and name != "run_id"]
    _insert(
        cursor,
        "runs",
        run,
        _RUN_TABLE,
        "(run_id) DO UPDATE SET " + ", ".join(f"{n} = EXCLUDED.{n}" for n in updated),
    )
    for item in content.items:
        _insert(cursor, "items", {**item, "run_id": run_id}, MERGED_ITEM_COLUMNS, "DO NOTHING")
    added: set[tuple[str, str, int]] = set()
    for trial in content.trials:
        row = {**trial, "run_id": run_id}
        if _insert(cursor, "trials", row, _TRIAL_COLUMNS, "DO NOTHING"):
            added.add((trial["condition"], trial["item_id"], trial["repeat"]))
    for log in content.logs:
        if (log["condition"], log["item_id"], log["repeat"]) in added:
            _insert(cursor, "logs", {**log, "run_id": run_id}, MERGED_LOG_COLUMNS)
    cursor.execute(
        "INSERT INTO run_sessions(run_id, started_at, ended_at)"
        " SELECT %s, s.started_at, s.ended_at FROM unnest(%s::text[], %s::text[])"
        " AS s(started_at, ended_at) WHERE NOT EXISTS (SELECT 1 FROM run_sessions r"
        " WHERE r.run_id = %s AND r.started_at = s.started_at AND r.ended_at = s.ended_at)",
        (
            run_id,
            [started for started, _ in content.sessions],
            [ended for _, ended in content.sessions],
            run_id,
        ),
    )
    return len(added)


def _insert(
    cursor: Cursor,
    table: str,
    row: Mapping[str, Any],
    columns: Sequence[str],
    on_conflict: str | None = None,
) -> bool:
    """INSERT the values of `row` for those of `columns` it has (a store of an older schema
    lacks some), JSON columns from JSON text, with `ON CONFLICT {on_conflict}` when given;
    whether a row was inserted."""
    names = [name for name in columns if name in row]
    kinds = "".join(_kind(name) for name in names)
    marks = value_marks(kinds)[1:-1]
    values = tuple(_json_text(row[name]) if name in _JSON else row[name] for name in names)
    conflict = f" ON CONFLICT {on_conflict}" if on_conflict else ""
    cursor.execute(
        f"INSERT INTO {table}({', '.join(names)}) VALUES ({marks}){conflict}",
        safe_row(values, kinds),
    )
    return cursor.rowcount == 1


def _kind(name: str) -> str:
    """The `value_marks` kind of a column of the merged tables."""
    if name in ORDERED_JSON:
        return "o"
    return "j" if name in _JSON else "t"


def _json_text(value: Any) -> str | None:
    """A stored JSON value as JSON text (rows read from SQLite hold text already)."""
    if value is None or isinstance(value, str):
        return jsonb_text(value)
    return json.dumps(value)


@contextmanager
def _snapshot(conn: psycopg.Connection[tuple[Any, ...]]) -> Iterator[None]:
    """A read transaction on `conn` whose queries all see one snapshot of the database."""
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield
