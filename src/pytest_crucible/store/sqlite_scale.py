"""The SQLite store's operations for runs spread over many processes (issue 17: `crucible
merge`, shared rate limits, joined runs' claims); their semantics are in interface.py.
`Store` (sqlite.py) inherits them, as `PostgresStore` inherits postgres_scale.py's
(and postgres_merging.py's).

Each is one BEGIN IMMEDIATE transaction: SQLite has one writer at a time, so a claim or a
bucket read and updated inside it cannot interleave with another process's.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_crucible.errors import StoreError
from pytest_crucible.store.buckets import take_from_bucket
from pytest_crucible.store.records import column_names
from pytest_crucible.store.rows import utc_now
from pytest_crucible.store.run_records import StoredBaseline
from pytest_crucible.store.scale_records import Claims, RatePermits, RunContent
from pytest_crucible.store.schema import (
    BASELINES_DDL,
    JOIN_DDL,
    RATE_BUCKETS_DDL,
    RUN_COLUMNS,
    SESSIONS_DDL,
)
from pytest_crucible.store.shapes import (
    MERGED_CALL_COLUMNS,
    MERGED_ITEM_COLUMNS,
    MERGED_LOG_COLUMNS,
    NEW_RUN_COLUMNS,
    RUN_JSON,
    decoded,
    new_run_row,
)
from pytest_crucible.store.sqlite_checks import explain, transaction
from pytest_crucible.store.sqlite_reads import SQLiteReads

__all__ = ["SQLiteScale"]

# a claim's trial is not stored: no trial row of its run has its key (trials_by_key index)
_NOT_STORED = (
    "NOT EXISTS (SELECT 1 FROM trials t WHERE t.run_id = c.run_id AND t.trial_key = c.trial_key)"
)
_KEYS_PER_STATEMENT = 500  # below SQLite's limit of bound parameters


class SQLiteScale(SQLiteReads):
    """Merging, shared rate buckets and claims over `self._conn`; `_write` is the one write
    transaction every operation of the store takes."""

    path: Path
    location: str
    readonly: bool

    def _insert_run(
        self,
        run_id: str,
        header: Mapping[str, Any],
        environment: Mapping[str, Any],
        status: str,
    ) -> None:
        now = utc_now()
        self._conn.execute(
            "INSERT INTO experiments(name, description, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET description = excluded.description",
            (header["name"], header.get("description", ""), now),
        )
        marks = ", ".join("?" * len(NEW_RUN_COLUMNS))
        self._conn.execute(
            f"INSERT INTO runs({', '.join(NEW_RUN_COLUMNS)}) VALUES ({marks})",
            new_run_row(run_id, header, environment, status, now),
        )

    @contextmanager
    def _write(self) -> Iterator[None]:
        if self.readonly:
            raise StoreError(f"store {self.path} was opened read-only")
        try:
            with transaction(self._conn):
                yield
        except sqlite3.DatabaseError as exc:
            raise explain(exc, self.path) from None

    # -- merging stores (issue 17, point 4: `crucible merge`) -------------------------------

    def run_content(self, run_id: str) -> RunContent:
        """Every row of one run, read in one (read) transaction."""
        self._conn.execute("BEGIN")
        try:
            run = self._conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if run is None:
                raise StoreError(f"store {self.location} has no run {run_id!r}")
            return RunContent(
                run=dict(run),
                items=self._dicts("SELECT * FROM items WHERE run_id = ? ORDER BY item_id", run_id),
                trials=self._dicts(
                    "SELECT * FROM trials WHERE run_id = ? ORDER BY condition, item_id, repeat",
                    run_id,
                ),
                logs=self._dicts(
                    f"SELECT {_LOG_COLUMNS} FROM logs WHERE run_id = ? ORDER BY id", run_id
                ),
                sessions=self.sessions(run_id),
            )
        finally:
            self._conn.execute("COMMIT")

    def _dicts(self, query: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in self._conn.execute(query, args)]

    def call_cache_entries(self) -> list[dict[str, Any]]:
        if not self._has_table("model_calls"):
            return []
        return self._dicts("SELECT * FROM model_calls ORDER BY cache_key")

    def merge_content(
        self,
        runs: Sequence[RunContent],
        cache: Sequence[Mapping[str, Any]] = (),
        baselines: Sequence[tuple[StoredBaseline, Mapping[str, Any]]] = (),
    ) -> dict[str, int]:
        """One transaction: runs, then the call cache, then baselines (interface.py)."""
        added: dict[str, int] = {}
        with self._write():
            self._conn.execute(SESSIONS_DDL)
            self._conn.execute(BASELINES_DDL)
            for content in runs:
                added[content.run["run_id"]] = self._merge_run(content)
            for entry in cache:
                _insert(
                    self._conn, "model_calls", entry, MERGED_CALL_COLUMNS, "(cache_key) DO NOTHING"
                )
            for baseline, document in baselines:
                self._conn.execute(
                    "INSERT INTO baselines(name, experiment, run_id, created_at, data)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(name, experiment) DO UPDATE SET"
                    " run_id = excluded.run_id, created_at = excluded.created_at,"
                    " data = excluded.data",
                    (*dataclasses.astuple(baseline), json.dumps(document)),
                )
        return added

    def _merge_run(self, content: RunContent) -> int:
        """Write one run's rows (inside `merge_content`'s transaction); the trials added."""
        run = content.run
        run_id = run["run_id"]
        description = decoded(run.get("header"), {}).get("description", "")
        self._conn.execute(
            "INSERT INTO experiments(name, description, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT(name) DO NOTHING",
            (run["experiment"], description, run["started_at"]),
        )
        updated = [name for name in _MERGED_RUN_COLUMNS if name in run and name != "run_id"]
        _insert(
            self._conn,
            "runs",
            run,
            _MERGED_RUN_COLUMNS,
            "(run_id) DO UPDATE SET " + ", ".join(f"{n} = excluded.{n}" for n in updated),
        )
        for item in content.items:
            _insert(
                self._conn,
                "items",
                {**item, "run_id": run_id},
                MERGED_ITEM_COLUMNS,
                "(run_id, item_id) DO NOTHING",
            )
        stored = {
            (row[0], row[1], row[2])
            for row in self._conn.execute(
                "SELECT condition, item_id, repeat FROM trials WHERE run_id = ?", (run_id,)
            )
        }
        added: set[tuple[str, str, int]] = set()
        for trial in content.trials:
            place = (trial["condition"], trial["item_id"], trial["repeat"])
            if place not in stored and place not in added:
                added.add(place)
                _insert(self._conn, "trials", {**trial, "run_id": run_id}, _TRIAL_COLUMNS)
        for log in content.logs:
            if (log["condition"], log["item_id"], log["repeat"]) in added:
                _insert(self._conn, "logs", {**log, "run_id": run_id}, MERGED_LOG_COLUMNS)
        known = set(self.sessions(run_id))
        for started_at, ended_at in content.sessions:
            if (started_at, ended_at) not in known:
                known.add((started_at, ended_at))
                self._conn.execute(
                    "INSERT INTO run_sessions(run_id, started_at, ended_at) VALUES (?, ?, ?)",
                    (run_id, started_at, ended_at),
                )
        return len(added)

    # -- issue 17, point 6: shared rate limits ---------------------------------------------

    def take_rate_permits(
        self, bucket: str, wanted: int, rate: float, capacity: float, now: float | None = None
    ) -> RatePermits:
        """See `ResultStore.take_rate_permits`: one BEGIN IMMEDIATE transaction, so the
        processes sharing the file take turns (each waits up to the busy timeout)."""
        now = time.time() if now is None else now
        with self._write():
            self._conn.execute(RATE_BUCKETS_DDL)
            row = self._conn.execute(
                "SELECT level, stamp FROM rate_buckets WHERE bucket = ?", (bucket,)
            ).fetchone()
            level, stamp = (capacity, now) if row is None else (row[0], row[1])
            taken = take_from_bucket(level, stamp, now, wanted, rate, capacity)
            self._conn.execute(
                "INSERT INTO rate_buckets(bucket, level, stamp) VALUES (?, ?, ?)"
                " ON CONFLICT(bucket) DO UPDATE SET level = excluded.level,"
                " stamp = excluded.stamp",
                (bucket, taken.level, taken.stamp),
            )
        return taken.permits

    # -- joined runs (issue 17, point 3; the semantics: interface.py) -------------------------

    def join_run(
        self,
        run_id: str,
        join_key: str,
        header: Mapping[str, Any],
        environment: Mapping[str, Any],
        keys: Sequence[str],
    ) -> dict[str, Any] | None:
        with self._write():
            self._make_join_tables()
            row = self._conn.execute(
                "SELECT header FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is not None:
                self._continue_cancelled(run_id)
                return dict(json.loads(row["header"]))
            self._insert_run(run_id, header, environment, "running")
            self._conn.execute(
                "INSERT INTO run_joins(run_id, join_key) VALUES (?, ?)", (run_id, join_key)
            )
            self._conn.executemany(
                "INSERT INTO trial_claims(run_id, trial_key, position) VALUES (?, ?, ?)",
                [(run_id, key, position) for position, key in enumerate(keys)],
            )
        return None

    def _continue_cancelled(self, run_id: str) -> None:
        """Joining a cancelled run continues it: running again, its request cleared."""
        resumed = self._conn.execute(
            "UPDATE runs SET status = 'running', ended_at = NULL"
            " WHERE run_id = ? AND status = 'cancelled'",
            (run_id,),
        )
        if resumed.rowcount:
            self._conn.execute("DELETE FROM run_cancels WHERE run_id = ?", (run_id,))

    def claim_trials(self, run_id: str, keys: Sequence[str], holder: str, lease_s: float) -> Claims:
        claimed: set[str] = set()
        held: dict[str, str] = {}
        with self._write():
            self._make_join_tables()
            now = time.time()
            for start in range(0, len(keys), _KEYS_PER_STATEMENT):
                chunk = keys[start : start + _KEYS_PER_STATEMENT]
                marks = ", ".join("?" * len(chunk))
                rows = self._conn.execute(
                    "SELECT c.trial_key, c.holder, c.expires_at FROM trial_claims c"
                    f" WHERE c.run_id = ? AND c.trial_key IN ({marks}) AND {_NOT_STORED}",
                    (run_id, *chunk),
                ).fetchall()
                free = [
                    key
                    for key, other, expires in rows
                    if other is None or other == holder or expires < now
                ]
                held.update({key: other for key, other, _ in rows if key not in free})
                claimed.update(free)
                marks = ", ".join("?" * len(free))
                self._conn.execute(
                    "UPDATE trial_claims SET holder = ?, expires_at = ?"
                    f" WHERE run_id = ? AND trial_key IN ({marks})",
                    (holder, now + lease_s, run_id, *free),
                )
        return Claims([key for key in keys if key in claimed], held)

    def renew_claims(self, holder: str, lease_s: float) -> int:
        with self._write():
            self._make_join_tables()
            cursor = self._conn.execute(
                f"UPDATE trial_claims AS c SET expires_at = ? WHERE c.holder = ? AND {_NOT_STORED}",
                (time.time() + lease_s, holder),
            )
        return cursor.rowcount

    def release_claims(self, run_id: str, keys: Sequence[str], holder: str) -> None:
        with self._write():
            self._make_join_tables()
            for start in range(0, len(keys), _KEYS_PER_STATEMENT):
                chunk = keys[start : start + _KEYS_PER_STATEMENT]
                marks = ", ".join("?" * len(chunk))
                self._conn.execute(
                    "UPDATE trial_claims AS c SET holder = NULL, expires_at = NULL"
                    f" WHERE c.run_id = ? AND c.trial_key IN ({marks}) AND c.holder = ?"
                    f" AND {_NOT_STORED}",
                    (run_id, *chunk, holder),
                )

    def finish_joined_run(self, run_id: str, finisher: str) -> str | None:
        with self._write():
            self._make_join_tables()
            row = self._conn.execute(
                "SELECT finisher FROM run_joins WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise StoreError(f"store {self.location} has no joined run {run_id!r}")
            if row["finisher"] is not None:
                return str(row["finisher"])
            left = self._conn.execute(
                f"SELECT COUNT(*) FROM trial_claims c WHERE c.run_id = ? AND {_NOT_STORED}",
                (run_id,),
            ).fetchone()[0]
            if left:
                return None
            now = utc_now()
            self._conn.execute(
                "UPDATE run_joins SET finisher = ?, finished_at = ? WHERE run_id = ?",
                (finisher, now, run_id),
            )
            self._conn.execute(
                "UPDATE runs SET status = 'completed', ended_at = ? WHERE run_id = ?",
                (now, run_id),
            )
        return finisher

    def trials_by_holder(self, run_id: str) -> dict[str, int]:
        if not self._has_table("trial_claims"):
            return {}
        rows = self._conn.execute(
            "SELECT c.holder, COUNT(*) FROM trial_claims c WHERE c.run_id = ?"
            f" AND c.holder IS NOT NULL AND NOT {_NOT_STORED} GROUP BY c.holder",
            (run_id,),
        )
        return {row[0]: row[1] for row in rows}

    def first_claim_holder(self, run_id: str) -> str | None:
        query = "SELECT holder FROM trial_claims WHERE run_id = ? AND position = 0"
        row = self._first_row("trial_claims", query, (run_id,))
        return None if row is None or row[0] is None else str(row[0])

    def _make_join_tables(self) -> None:
        for statement in JOIN_DDL:
            self._conn.execute(statement)


# the columns `merge_content` copies, by table (names of ours: safe to put in SQL text)
_MERGED_RUN_COLUMNS = (*RUN_COLUMNS, *RUN_JSON)
_TRIAL_COLUMNS = column_names()
_LOG_COLUMNS = ", ".join(MERGED_LOG_COLUMNS)


def _insert(
    conn: sqlite3.Connection,
    table: str,
    row: Mapping[str, Any],
    columns: Sequence[str],
    on_conflict: str | None = None,
) -> None:
    """INSERT the values of `row` for those of `columns` it has (a store of an older
    schema lacks some), with `ON CONFLICT {on_conflict}` when given."""
    names = [name for name in columns if name in row]
    conflict = f" ON CONFLICT{on_conflict}" if on_conflict else ""
    conn.execute(
        f"INSERT INTO {table}({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
        + conflict,
        [row[name] for name in names],
    )
