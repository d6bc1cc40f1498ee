"""The results store in a PostgreSQL database (docs/postgres.md), for teams and for runs
spread over many machines.

Several processes on several machines write to one database at once (each run's writer
thread, `crucible` commands), so every write is one transaction that is safe under
concurrency: inserts that meet a stored row say what wins (ON CONFLICT), counters are
incremented in place, and the one read-then-write (taking a run's hold) serialises on an
advisory lock of that run. One connection per store object, used by one operation at a time
(the writer thread, the call cache and readers open their own stores, as with SQLite); a
connection the server dropped is opened again at the next operation.

Here: the connection and its transactions, runs, run holders and trials. Trial batches'
statements are in postgres_trial_writes.py; the read side, the console's operations and
those of runs spread over many processes are inherited (postgres_reads.py,
postgres_console.py, postgres_scale.py, postgres_merging.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from pytest_crucible.errors import StoreError
from pytest_crucible.store.locations import masked
from pytest_crucible.store.postgres_connection import connect, explain, prepare_schema
from pytest_crucible.store.postgres_console import PostgresConsole
from pytest_crucible.store.postgres_trial_writes import (
    CALLS,
    ITEMS,
    LOGS,
    import_new_trials,
    insert_many,
    upsert_trials,
)
from pytest_crucible.store.postgres_values import ORDERED_JSON, value_marks
from pytest_crucible.store.postgres_values import jsonb_text as _jsonb
from pytest_crucible.store.postgres_values import safe_row as _safe_row
from pytest_crucible.store.postgres_values import value_marks as _values
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.rows import Job, batch_rows, dump, utc_now
from pytest_crucible.store.run_records import RunHolder, StoredBaseline
from pytest_crucible.store.shapes import (
    NEW_RUN_COLUMNS,
    RESUMED_RUN_COLUMNS,
    new_run_row,
    resumed_run_row,
)

__all__ = ["PostgresStore"]

_T = TypeVar("_T")
# aborted by the server for a conflict with another transaction: worth running again
_TRANSIENT = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)
_ATTEMPTS = 10  # each retry follows a commit of the other side: a few suffice
_RUN_JSON = ("config", "header", "environment", "tags")
_RUN_KINDS = "".join(
    ("o" if name in ORDERED_JSON else "j") if name in _RUN_JSON else "t" for name in NEW_RUN_COLUMNS
)
_RESUMED_KINDS = "".join(
    ("o" if name in ORDERED_JSON else "j") if name in _RUN_JSON else "t"
    for name in RESUMED_RUN_COLUMNS
)
_HOLDER_UPSERT = (
    "INSERT INTO run_holders(run_id, host, pid, started_at, heartbeat_at, lease_s)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (run_id, host, pid) DO UPDATE SET"
    " started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at,"
    " lease_s = EXCLUDED.lease_s"
)


class PostgresStore(PostgresConsole):
    """The results store in one PostgreSQL database (implements `interface.ResultStore`)."""

    def __init__(
        self, url: str, *, readonly: bool = False, side_folder: Path | None = None
    ) -> None:
        self._url = url
        self.location = masked(url)
        self.side_folder = (side_folder or Path(".crucible")).absolute()
        self.path = self.side_folder / "crucible.db"  # not a file: `path` is going away
        self.readonly = readonly
        self._lock = threading.RLock()
        self._conn = connect(url, readonly=readonly)
        try:
            prepare_schema(self._conn, url, readonly=readonly)
        except BaseException:
            self._conn.close()
            raise

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn.closed or self._conn.broken:  # the server dropped it: open it again
            self._conn = connect(self._url, readonly=self.readonly)
        return self._conn

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self, *, transient: bool = False) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        """A cursor in a transaction of its own (committed at the end, rolled back on an
        error). `transient`: let a deadlock or serialization failure through, to retry."""
        if self.readonly:
            raise StoreError(f"store {self.location} was opened read-only")
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction(), conn.cursor() as cursor:
                    yield cursor
            except psycopg.Error as exc:
                if transient and isinstance(exc, _TRANSIENT):
                    raise
                raise explain(exc, self._url) from None

    def _transact(self, work: Callable[[psycopg.Cursor[tuple[Any, ...]]], _T]) -> _T:
        """`work` in one transaction, run again when the server aborted it for a deadlock
        with another writer (two processes storing the same items in another order)."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._write(transient=True) as cursor:
                    return work(cursor)
            except _TRANSIENT as exc:
                if attempt == _ATTEMPTS:
                    raise explain(exc, self._url) from None
        raise AssertionError("unreachable")

    # -- runs -------------------------------------------------------------------------------

    def create_run(
        self,
        header: Mapping[str, Any],
        environment: Mapping[str, Any],
        holder: RunHolder | None = None,
        *,
        run_id: str | None = None,
        status: str = "running",
    ) -> str:
        """A new run, held by `holder` from the moment it exists."""
        run_id = run_id or secrets.token_hex(4)
        with self._write() as cursor:
            if holder is not None:
                cursor.execute(_HOLDER_UPSERT, (run_id, *_holder_values(holder)))
            if not self._insert_run(cursor, run_id, header, environment, status):
                raise StoreError(f"store {self.location} has a run {run_id!r} already")
        return run_id

    def _insert_run(
        self,
        cursor: psycopg.Cursor[tuple[Any, ...]],
        run_id: str,
        header: Mapping[str, Any],
        environment: Mapping[str, Any],
        status: str,
    ) -> bool:
        """A new run's rows (its experiment's too); False when run `run_id` exists (a
        process creating it at once: ON CONFLICT waits for its commit)."""
        now = utc_now()
        cursor.execute(
            "INSERT INTO experiments(name, description, created_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET description = EXCLUDED.description",
            (header["name"], header.get("description", ""), now),
        )
        cursor.execute(
            f"INSERT INTO runs({', '.join(NEW_RUN_COLUMNS)}) VALUES {_values(_RUN_KINDS)}"
            " ON CONFLICT (run_id) DO NOTHING",
            _safe_row(new_run_row(run_id, header, environment, status, now), _RUN_KINDS),
        )
        return cursor.rowcount == 1

    def resume_run(self, run_id: str, header: Mapping[str, Any]) -> None:
        """Mark a stored run as running again, with the header of this session."""
        with self._write() as cursor:
            cursor.execute(
                "UPDATE runs SET status = 'running', ended_at = NULL, sessions = sessions + 1, "
                + ", ".join(
                    f"{name} = {value_marks(kind)[1:-1]}"
                    for name, kind in zip(RESUMED_RUN_COLUMNS, _RESUMED_KINDS, strict=True)
                )
                + " WHERE run_id = %s",
                (*_safe_row(resumed_run_row(header), _RESUMED_KINDS), run_id),
            )
            cursor.execute("DELETE FROM run_cancels WHERE run_id = %s", (run_id,))

    def finish_run(self, run_id: str, status: str) -> None:
        with self._write() as cursor:
            cursor.execute(
                "UPDATE runs SET status = %s, ended_at = %s WHERE run_id = %s",
                (status, utc_now(), run_id),
            )

    def save_analysis(self, run_id: str, analysis: Mapping[str, Any]) -> None:
        with self._write() as cursor:
            cursor.execute(
                "UPDATE runs SET analysis = %s::jsonb WHERE run_id = %s",
                (_jsonb(dump(analysis)), run_id),
            )

    # -- run holders (holding.py) -----------------------------------------------------------

    def hold_run(
        self, run_id: str, holder: RunHolder, stale: Callable[[RunHolder], bool]
    ) -> RunHolder | None:
        """Make `holder` hold the run, unless another holder that is not `stale` does:
        then return that one. Stale holders are removed. Processes that try at once take
        turns on an advisory lock of the run, so only one of them gets it."""
        with self._write() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key("hold", run_id),))
            cursor.execute(
                "SELECT host, pid, started_at, heartbeat_at, lease_s FROM run_holders"
                " WHERE run_id = %s",
                (run_id,),
            )
            for row in cursor.fetchall():
                other = RunHolder(*row)
                if not stale(other):
                    return other
                cursor.execute(
                    "DELETE FROM run_holders WHERE run_id = %s AND host = %s AND pid = %s",
                    (run_id, other.host, other.pid),
                )
            cursor.execute(_HOLDER_UPSERT, (run_id, *_holder_values(holder)))
        return None

    def beat(self, holder: RunHolder, run_ids: Sequence[str]) -> int:
        """Refresh the heartbeat of `holder` on its runs; how many it still holds."""
        with self._write() as cursor:
            cursor.execute(
                "UPDATE run_holders SET heartbeat_at = %s WHERE host = %s AND pid = %s"
                " AND started_at = %s AND run_id = ANY(%s)",
                (utc_now(), holder.host, holder.pid, holder.started_at, list(run_ids)),
            )
            return cursor.rowcount

    def release_runs(self, holder: RunHolder, run_ids: Sequence[str]) -> None:
        with self._write() as cursor:
            cursor.execute(
                "DELETE FROM run_holders WHERE host = %s AND pid = %s AND started_at = %s"
                " AND run_id = ANY(%s)",
                (holder.host, holder.pid, holder.started_at, list(run_ids)),
            )

    # -- trials -----------------------------------------------------------------------------

    def record_trial(self, run_id: str, record: TrialRecord, worker: str) -> None:
        """Store one trial's result (replacing an earlier attempt) and its logs."""
        self.record_trials([(run_id, record, worker)])

    def record_trials(self, batch: Sequence[Job]) -> None:
        """Store several (run_id, record, worker) in one transaction (a group commit: the
        statements go in one pipeline, not one round trip each)."""
        rows = batch_rows(batch)

        def write(cursor: psycopg.Cursor[tuple[Any, ...]]) -> None:
            insert_many(cursor, ITEMS, rows.items)
            upsert_trials(cursor, rows.trials)
            insert_many(cursor, CALLS, rows.calls)
            insert_many(cursor, LOGS, rows.logs)

        self._transact(write)

    def import_trials(self, batch: Sequence[Job]) -> dict[str, int]:
        """Store the (run_id, record, worker) that the store lacks, in one transaction: a
        trial already stored wins (also one another process stores meanwhile: ON CONFLICT
        DO NOTHING), a trial of an unknown run is left out. Returns the count added per
        run."""
        if not batch:
            return {}
        added = self._transact(lambda cursor: import_new_trials(cursor, batch))
        counts: dict[str, int] = {}
        for run_id, _, _ in added:
            counts[run_id] = counts.get(run_id, 0) + 1
        return counts

    def record_session(self, run_id: str, started_at: str, ended_at: str) -> None:
        with self._write() as cursor:
            cursor.execute(
                "INSERT INTO run_sessions(run_id, started_at, ended_at) VALUES (%s, %s, %s)",
                (run_id, started_at, ended_at),
            )

    def save_baseline(self, baseline: StoredBaseline, document: Mapping[str, Any]) -> None:
        """Keep `document` as baseline `baseline.name` of its experiment (replacing one of
        that name)."""
        with self._write() as cursor:
            cursor.execute(
                "INSERT INTO baselines(name, experiment, run_id, created_at, data)"
                " VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT (name, experiment) DO UPDATE"
                " SET run_id = EXCLUDED.run_id, created_at = EXCLUDED.created_at,"
                " data = EXCLUDED.data",
                (
                    baseline.name,
                    baseline.experiment,
                    baseline.run_id,
                    baseline.created_at,
                    _jsonb(json.dumps(document)),
                ),
            )


def _holder_values(holder: RunHolder) -> tuple[Any, ...]:
    return (holder.host, holder.pid, holder.started_at, holder.heartbeat_at, holder.lease_s)


def _lock_key(purpose: str, name: str) -> int:
    """A 64-bit advisory lock key for `purpose` of `name`."""
    digest = hashlib.blake2b(f"{purpose}:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
