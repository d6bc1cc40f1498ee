"""The results store: an embedded SQLite database, every trial committed as it finishes.

Only the controller process writes (WAL journal, synchronous=NORMAL: a kill -9 loses nothing
that was committed); its writer thread commits each result within a few milliseconds, with
those that arrived meanwhile (`writer.py`). Readers (`load_trials`, reports, other
processes) never block it.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_crucible.errors import StoreError
from pytest_crucible.store.opening import DEFAULT_STORE
from pytest_crucible.store.records import TRIAL_PRIMARY_KEY, TrialRecord
from pytest_crucible.store.rows import Job, dump, insert_rows, table_rows, utc_now
from pytest_crucible.store.run_records import RunHolder, RunInfo, RunRecord, StoredBaseline
from pytest_crucible.store.schema import (
    BASELINES_DDL,
    DDL,
    HOLDERS_DDL,
    MIGRATIONS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    SESSIONS_DDL,
)
from pytest_crucible.store.shapes import (
    RESUMED_RUN_COLUMNS,
    decoded,
    resumed_run_row,
    run_fields,
    run_info,
)
from pytest_crucible.store.sqlite_checks import (
    BUSY_TIMEOUT_MS,
    check_integrity,
    check_is_a_store,
    explain,
    make_folder,
    sql_statements,
    transaction,
    use_wal,
)
from pytest_crucible.store.sqlite_console import SQLiteConsole

__all__ = ["DEFAULT_STORE", "RunHolder", "RunInfo", "Store", "utc_now"]


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
            make_folder(self.path)
        uri = f"file:{self.path.resolve()}{'?mode=ro' if self.readonly else ''}"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=BUSY_TIMEOUT_MS / 1000,
                check_same_thread=False,
                isolation_level=None,
            )
            conn.row_factory = sqlite3.Row
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._check_version(version, conn)
            if self.readonly:
                check_is_a_store(conn, self.path)
            if self._verify:
                check_integrity(conn, self.path)
            if not self.readonly:
                use_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                self._bring_up_to_date(conn)
        except sqlite3.DatabaseError as exc:
            raise explain(exc, self.path, reading=self.readonly) from None
        return conn

    def _bring_up_to_date(self, conn: sqlite3.Connection) -> None:
        """Create the schema of a new store, or migrate an older one in place, in one write
        transaction. The version is read again under the write lock: processes that open
        one store at once (a joined run, a CI matrix after an upgrade) migrate it once; the
        others find it done. (A current store still takes the lock once, so that a store
        another process keeps locked fails now, not at the first trial.)"""
        with transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                if version == 0:
                    script = DDL
                else:
                    script = "".join(MIGRATIONS[v] for v in range(version, SCHEMA_VERSION))
                for statement in sql_statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._check_version(version, conn)  # a newer pytest-crucible may have migrated it

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
