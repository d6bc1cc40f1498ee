"""The results store: an embedded SQLite database, every trial committed as it finishes.

Only the controller process writes (WAL journal, synchronous=NORMAL: a kill -9 loses nothing
that was committed); its writer thread commits each result within a few milliseconds, with
those that arrived meanwhile (`writer.py`). Readers (`load_trials`, reports, other
processes) never block it.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shlex
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_crucible.errors import StoreError, StoreFullError
from pytest_crucible.store.buckets import take_from_bucket
from pytest_crucible.store.interface import (
    Claims,
    RatePermits,
    RunContent,
    RunHolder,
    RunInfo,
    RunRecord,
    StoredBaseline,
)
from pytest_crucible.store.opening import DEFAULT_STORE
from pytest_crucible.store.records import TRIAL_PRIMARY_KEY, TrialRecord, column_names
from pytest_crucible.store.rows import Job, dump, insert_rows, table_rows, utc_now
from pytest_crucible.store.schema import (
    BASELINES_DDL,
    DDL,
    HOLDERS_DDL,
    JOIN_DDL,
    MIGRATIONS,
    RATE_BUCKETS_DDL,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    SESSIONS_DDL,
)
from pytest_crucible.store.shapes import (
    NEW_RUN_COLUMNS,
    RESUMED_RUN_COLUMNS,
    decoded,
    new_run_row,
    resumed_run_row,
    run_fields,
    run_info,
)
from pytest_crucible.store.sqlite_console import SQLiteConsole

__all__ = ["DEFAULT_STORE", "RunHolder", "RunInfo", "Store", "utc_now"]

_BUSY_TIMEOUT_MS = 5000
# a claim's trial is not stored: no trial row of its run has its key (trials_by_key index)
_NOT_STORED = (
    "NOT EXISTS (SELECT 1 FROM trials t WHERE t.run_id = c.run_id AND t.trial_key = c.trial_key)"
)
_KEYS_PER_STATEMENT = 500  # below SQLite's limit of bound parameters
# what SQLite says when the disk is full (SQLITE_FULL), or a write fails (EFBIG: a file size
# limit; other I/O errors, rarer, get the same advice)
_WRITE_REFUSED = ("SQLITE_FULL", "SQLITE_IOERR_WRITE")


class Store(SQLiteConsole):
    """The results store in one SQLite file (implements `interface.ResultStore`)."""

    def __init__(self, path: str | Path, *, readonly: bool = False, verify: bool = False) -> None:
        """`verify`: refuse a damaged store before writing anything (SQLite's quick_check:
        about 20 ms for a 7 MB store of 10,000 trials, once per run; the run's writer
        thread, opening the store after it, need not check again)."""
        self.path = Path(path)
        self.location = str(self.path)
        self.side_folder = self.path.parent
        self.readonly = readonly
        self._verify = verify
        if readonly and not self.path.exists():
            raise StoreError(
                f"store {self.path} does not exist; run `pytest --crucible` first, "
                "or point --crucible-store at an existing store"
            )
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        if not self.readonly:
            _make_folder(self.path)
        uri = f"file:{self.path.resolve()}{'?mode=ro' if self.readonly else ''}"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
                isolation_level=None,
            )
            conn.row_factory = sqlite3.Row
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._check_version(version, conn)
            if self.readonly:
                _check_is_a_store(conn, self.path)
            if self._verify:
                _check_integrity(conn, self.path)
            if not self.readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                if version == 0:
                    conn.executescript(
                        f"BEGIN IMMEDIATE;{DDL};PRAGMA user_version = {SCHEMA_VERSION};COMMIT;"
                    )
                elif version < SCHEMA_VERSION:  # an older store: migrate it in place
                    steps = "".join(MIGRATIONS[v] for v in range(version, SCHEMA_VERSION))
                    conn.executescript(
                        f"BEGIN IMMEDIATE;{steps};PRAGMA user_version = {SCHEMA_VERSION};COMMIT;"
                    )
                else:  # fail now, not at the first trial, if another process holds the lock
                    conn.execute("BEGIN IMMEDIATE")
                    conn.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path, reading=self.readonly) from None
        return conn

    def _check_version(self, version: int, conn: sqlite3.Connection) -> None:
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"store {self.path} has schema version {version}, written by a newer "
                f"pytest-crucible (this one reads up to {SCHEMA_VERSION}); upgrade "
                "pytest-crucible, or use another store with --crucible-store PATH"
            )

    def close(self) -> None:
        self._conn.close()

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
        """A new run, held by `holder` from the moment it exists (`run_id`: chosen by the
        session, so that its journals name it too)."""
        run_id = run_id or secrets.token_hex(4)
        with self._write():
            if holder is not None:
                self._insert_holder(run_id, holder)
            self._insert_run(run_id, header, environment, status)
        return run_id

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

    def resume_run(self, run_id: str, header: Mapping[str, Any]) -> None:
        """Mark a stored run as running again, with the header of this session."""
        with self._write():
            self._conn.execute(
                "UPDATE runs SET status = 'running', ended_at = NULL, sessions = sessions + 1, "
                + ", ".join(f"{name} = ?" for name in RESUMED_RUN_COLUMNS)
                + " WHERE run_id = ?",
                (*resumed_run_row(header), run_id),
            )
            self._conn.execute("DELETE FROM run_cancels WHERE run_id = ?", (run_id,))

    # -- run holders (holding.py) -------------------------------------------------------------

    def hold_run(
        self, run_id: str, holder: RunHolder, stale: Callable[[RunHolder], bool]
    ) -> RunHolder | None:
        """Make `holder` hold the run, unless another holder that is not `stale` does:
        then return that one. Stale holders are removed; all in one transaction."""
        with self._write():
            self._conn.execute(HOLDERS_DDL)
            rows = self._conn.execute(
                "SELECT host, pid, started_at, heartbeat_at, lease_s FROM run_holders"
                " WHERE run_id = ?",
                (run_id,),
            ).fetchall()
            for row in rows:
                other = RunHolder(*row)
                if not stale(other):
                    return other
                self._conn.execute(
                    "DELETE FROM run_holders WHERE run_id = ? AND host = ? AND pid = ?",
                    (run_id, other.host, other.pid),
                )
            self._insert_holder(run_id, holder)
        return None

    def _insert_holder(self, run_id: str, holder: RunHolder) -> None:
        self._conn.execute(HOLDERS_DDL)
        self._conn.execute(
            "INSERT OR REPLACE INTO run_holders(run_id, host, pid, started_at, heartbeat_at,"
            " lease_s) VALUES (?, ?, ?, ?, ?, ?)",
            (
                run_id,
                holder.host,
                holder.pid,
                holder.started_at,
                holder.heartbeat_at,
                holder.lease_s,
            ),
        )

    def beat(self, holder: RunHolder, run_ids: Sequence[str]) -> int:
        """Refresh the heartbeat of `holder` on its runs; how many it still holds."""
        marks = ", ".join("?" * len(run_ids))
        with self._write():
            cursor = self._conn.execute(
                "UPDATE run_holders SET heartbeat_at = ? WHERE host = ? AND pid = ?"
                f" AND started_at = ? AND run_id IN ({marks})",
                (utc_now(), holder.host, holder.pid, holder.started_at, *run_ids),
            )
        return cursor.rowcount

    def release_runs(self, holder: RunHolder, run_ids: Sequence[str]) -> None:
        marks = ", ".join("?" * len(run_ids))
        with self._write():
            self._conn.execute(
                "DELETE FROM run_holders WHERE host = ? AND pid = ? AND started_at = ?"
                f" AND run_id IN ({marks})",
                (holder.host, holder.pid, holder.started_at, *run_ids),
            )

    def finish_run(self, run_id: str, status: str) -> None:
        with self._write():
            self._conn.execute(
                "UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?",
                (status, utc_now(), run_id),
            )

    def save_analysis(self, run_id: str, analysis: Mapping[str, Any]) -> None:
        with self._write():
            self._conn.execute(
                "UPDATE runs SET analysis = ? WHERE run_id = ?", (dump(analysis), run_id)
            )

    def runs(self, experiment: str | None = None) -> list[RunInfo]:
        """Stored runs, newest first."""
        where, args = ("WHERE r.experiment = ?", (experiment,)) if experiment else ("", ())
        return self._run_infos(where, args)

    def run_table(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """Every stored run (newest first) with every field it records, JSON decoded, and
        how many trials it holds: what `load_runs` shows."""
        where, args = ("WHERE r.experiment = ?", (experiment,)) if experiment else ("", ())
        return [run_fields(row) for row in self._run_rows(where, args)]

    def _run_rows(self, where: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return self._conn.execute(
            "SELECT r.*, COUNT(t.run_id) AS stored,"
            " COALESCE(SUM(t.status = 'passed'), 0) AS passed"
            f" FROM runs r LEFT JOIN trials t ON t.run_id = r.run_id {where}"
            " GROUP BY r.run_id ORDER BY r.started_at DESC, r.rowid DESC",
            args,
        ).fetchall()

    def _run_infos(self, where: str, args: tuple[Any, ...]) -> list[RunInfo]:
        return [run_info(row) for row in self._run_rows(where, args)]

    def run(self, run_id: str) -> RunInfo | None:
        """One stored run (counting only its own trials), or None."""
        found = self._run_infos("WHERE r.run_id = ?", (run_id,))
        return found[0] if found else None

    def run_header(self, run_id: str) -> dict[str, Any]:
        row = self._conn.execute("SELECT header FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"store {self.path} has no run {run_id!r}")
        return dict(json.loads(row["header"]))

    def run_record(self, run_id: str) -> RunRecord:
        # every column: a store older than schema version 4 opened read-only lacks some
        row = self._conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"store {self.path} has no run {run_id!r}")
        present = set(row.keys())
        return RunRecord(
            columns={name: row[name] if name in present else None for name in RUN_COLUMNS},
            header=dict(json.loads(row["header"])),
            config=decoded(row["config"], {}),
            environment=decoded(row["environment"], {}),
            analysis=dict(json.loads(row["analysis"])) if row["analysis"] else None,
        )

    def completed_keys(self, run_id: str) -> list[str]:
        """Keys of the trials of a run that passed: resume does not run these again."""
        rows = self._conn.execute(
            "SELECT trial_key FROM trials WHERE run_id = ? AND status = 'passed'"
            " ORDER BY trial_key",
            (run_id,),
        )
        return [row[0] for row in rows]

    # -- trials -----------------------------------------------------------------------------

    def record_trial(self, run_id: str, record: TrialRecord, worker: str) -> None:
        """Store one trial's result (replacing an earlier attempt of the same trial) and its
        logs, in one transaction."""
        self.record_trials([(run_id, record, worker)])

    def record_trials(self, batch: Sequence[Job]) -> None:
        """Store several (run_id, record, worker) in one transaction: the writer thread
        commits what arrived within a few milliseconds together (a group commit), with one
        multi-row INSERT per table (`_rows.py` says why)."""
        tables = table_rows(batch)
        with self._write():
            for statement, rows in tables:
                insert_rows(self._conn, statement, rows)

    def import_trials(self, batch: Sequence[Job]) -> dict[str, int]:
        """Store the (run_id, record, worker) that the store lacks, in one transaction: a
        trial already stored wins, a trial of an unknown run is left out. Returns the count
        added per run."""
        if not batch:
            return {}
        named = sorted({run_id for run_id, _, _ in batch})
        marks = ", ".join("?" * len(named))
        with self._write():
            runs = {
                row[0]
                for row in self._conn.execute(
                    f"SELECT run_id FROM runs WHERE run_id IN ({marks})", named
                )
            }
            stored = {
                (row[0], row[1], row[2], row[3])
                for row in self._conn.execute(
                    f"SELECT {', '.join(TRIAL_PRIMARY_KEY)} FROM trials WHERE run_id IN ({marks})",
                    named,
                )
            }
            missing: list[Job] = []
            for run_id, record, worker in batch:
                place = (run_id, *record.place)
                if run_id in runs and place not in stored:
                    stored.add(place)
                    missing.append((run_id, record, worker))
            for statement, rows in table_rows(missing):
                insert_rows(self._conn, statement, rows)
        added: dict[str, int] = {}
        for run_id, _, _ in missing:
            added[run_id] = added.get(run_id, 0) + 1
        return added

    def record_session(self, run_id: str, started_at: str, ended_at: str) -> None:
        """Keep one session's wall time of a run (ISO 8601 UTC times); a store made before
        the sessions table gets it now."""
        with self._write():
            self._conn.execute(SESSIONS_DDL)
            self._conn.execute(
                "INSERT INTO run_sessions(run_id, started_at, ended_at) VALUES (?, ?, ?)",
                (run_id, started_at, ended_at),
            )

    def save_baseline(self, baseline: StoredBaseline, document: Mapping[str, Any]) -> None:
        """Keep `document` as baseline `baseline.name` of its experiment (replacing one of
        that name); a store made before the baselines table gets it now."""
        with self._write():
            self._conn.execute(BASELINES_DDL)
            self._conn.execute(
                "INSERT OR REPLACE INTO baselines(name, experiment, run_id, created_at, data)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    baseline.name,
                    baseline.experiment,
                    baseline.run_id,
                    baseline.created_at,
                    json.dumps(document),
                ),
            )

    @contextmanager
    def _write(self) -> Iterator[None]:
        if self.readonly:
            raise StoreError(f"store {self.path} was opened read-only")
        try:
            with _transaction(self._conn):
                yield
        except sqlite3.DatabaseError as exc:
            raise _explain(exc, self.path) from None

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
                _insert(self._conn, "model_calls", entry, _CALL_COLUMNS, "(cache_key) DO NOTHING")
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
                _ITEM_COLUMNS,
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
                _insert(self._conn, "logs", {**log, "run_id": run_id}, _LOG_COLUMN_NAMES)
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

    def _make_join_tables(self) -> None:
        for statement in JOIN_DDL:
            self._conn.execute(statement)

    def _has_table(self, name: str) -> bool:
        found = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        )
        return found.fetchone() is not None


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a COMMIT that failed (a full disk) leaves it open
            conn.execute("ROLLBACK")
        raise


_RUN_JSON = ("config", "header", "environment", "analysis", "tags")
# the columns `merge_content` copies, by table (names of ours: safe to put in SQL text)
_MERGED_RUN_COLUMNS = (*RUN_COLUMNS, *_RUN_JSON)
_ITEM_COLUMNS = ("run_id", "item_id", "input", "expected", "metadata", "cluster")
_TRIAL_COLUMNS = column_names()
_LOG_COLUMN_NAMES = (
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
_LOG_COLUMNS = ", ".join(_LOG_COLUMN_NAMES)
_CALL_COLUMNS = (
    "cache_key",
    "backend",
    "model",
    "request",
    "response",
    "run_id",
    "trial_key",
    "created_at",
)


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


def _make_folder(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise StoreError(
                f"--crucible-store {path}: {blocking} is a file, not a folder; give a store "
                "path inside a folder (e.g. --crucible-store results/crucible.db)"
            ) from None
        raise StoreError(
            f"--crucible-store {path}: cannot create the folder {folder} ({exc.strerror}); "
            "give a store path in a folder you can write to"
        ) from None


def _check_is_a_store(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, when reading, a SQLite file that pytest-crucible did not write (its queries
    would fail with "no such table" deep inside a report or a command)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'")
    if found.fetchone() is None:
        conn.close()
        raise StoreError(
            f"{path} is not a pytest-crucible store (a SQLite database without its tables); "
            "give the path of a store that `pytest --crucible` wrote (.crucible/crucible.db "
            "by default)"
        )


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a store whose pages are damaged: a run would write into it (and read wrong
    results back) until SQLite happened to read a damaged page."""
    try:
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise  # not damage: `_explain` says who holds it
        verdict = str(exc)
    if verdict == "ok":
        return
    conn.close()
    saved = path.with_name(f"{path.stem}-recovered{path.suffix or '.db'}")
    raise StoreError(
        f"store {path} is damaged (SQLite's integrity check: {verdict}); nothing was written "
        "to it. Copy what can be saved into a new store with\n"
        f"    sqlite3 {shlex.quote(str(path))} .recover | sqlite3 {shlex.quote(str(saved))}\n"
        f"and run with --crucible-store {shlex.quote(str(saved))} (or move the damaged store "
        f"aside, mv {shlex.quote(str(path))} {shlex.quote(str(path))}.bad, to start a new one)"
    )


def _explain(exc: sqlite3.DatabaseError, path: Path, *, reading: bool = False) -> StoreError:
    """The store error that says what to do about `exc`; `reading`: the store was opened
    read-only (a reader gave a wrong path more likely than the store broke)."""
    message = str(exc)
    if reading and "not a database" in message:
        return StoreError(
            f"{path} is not a pytest-crucible store (not a SQLite database: {message}); give "
            "the path of a store that `pytest --crucible` wrote (.crucible/crucible.db by "
            "default)"
        )
    if "locked" in message or "busy" in message:
        return StoreError(
            f"store {path} is locked by another process (another `pytest --crucible` run?) "
            f"and stayed locked for {_BUSY_TIMEOUT_MS // 1000} s; wait for it to finish, or "
            "use a separate store with --crucible-store PATH"
        )
    if "not a database" in message or "malformed" in message or "corrupt" in message:
        return StoreError(
            f"store {path} is not a readable SQLite database ({message}); nothing was written "
            f"to it. Move it aside (mv {path} {path}.bad) to start a new store, or point "
            "--crucible-store at another file"
        )
    if getattr(exc, "sqlite_errorname", "") in _WRITE_REFUSED:
        return StoreFullError(
            f"cannot write to the store {path}: the disk is full, or a file size limit was "
            f"reached ({message}); free space on {path.parent}, or move the store elsewhere "
            "with --crucible-store PATH"
        )
    return StoreError(f"store {path}: {message}")
