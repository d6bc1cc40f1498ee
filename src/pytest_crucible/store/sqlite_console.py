"""The SQLite store's operations for watching and steering runs (issue 18; `ResultStore` in
interface.py names them, `Store` in sqlite.py inherits them): cancel requests, progress,
pages of trials and logs, a trial's detail, instances.

A store older than schema version 5 opened read-only lacks the tables run_cancels and
instances: it has no requests and no instances (a writable store is migrated when opened).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pytest_crucible.errors import StoreError
from pytest_crucible.store.console_records import Instance, LogLine, RunProgress, TrialPage
from pytest_crucible.store.console_shapes import (
    INSTANCE_COLUMNS,
    LOG_LINE_COLUMNS,
    instance_from_row,
    instance_row,
    log_line,
    run_progress,
    where_clause,
)
from pytest_crucible.store.rows import utc_now
from pytest_crucible.store.shapes import JSON_COLUMNS, decoded, trial_fields
from pytest_crucible.store.sqlite_scale import SQLiteScale

__all__ = ["SQLiteConsole"]

_IN_ORDER = " ORDER BY condition, item_id, repeat"
_LOG_SELECT = f"SELECT {', '.join(LOG_LINE_COLUMNS)} FROM logs WHERE run_id = ?"
_INSTANCE_UPSERT = (
    f"INSERT INTO instances({', '.join(INSTANCE_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(INSTANCE_COLUMNS))}) ON CONFLICT(name) DO UPDATE SET "
    + ", ".join(f"{n} = excluded.{n}" for n in INSTANCE_COLUMNS if n not in ("name", "created_at"))
)


class SQLiteConsole(SQLiteScale):
    """Issue 18's operations over `self._conn` (writes through `SQLiteScale._write`)."""

    # -- cancel requests ------------------------------------------------------------------

    def request_cancel(self, run_id: str, reason: str) -> bool:
        with self._write():
            row = self._conn.execute(
                "SELECT status FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            if row is None or row["status"] != "running":
                return False
            self._conn.execute(
                "INSERT INTO run_cancels(run_id, reason, requested_at) VALUES (?, ?, ?)"
                " ON CONFLICT(run_id) DO NOTHING",
                (run_id, reason, utc_now()),
            )
        return True

    def cancel_request(self, run_id: str) -> str | None:
        query = "SELECT reason FROM run_cancels WHERE run_id = ?"
        row = self._first_row("run_cancels", query, (run_id,))
        return None if row is None else str(row[0])

    # -- progress, trials and logs --------------------------------------------------------

    def run_progress(self, run_id: str) -> RunProgress:
        run = self._conn.execute(
            "SELECT run_id, status, total_trials FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if run is None:
            raise StoreError(f"store {self.location} has no run {run_id!r}")
        counts = self._conn.execute(
            "SELECT condition, status, COUNT(*), MAX(ended_at) FROM trials WHERE run_id = ?"
            " GROUP BY condition, status",
            (run_id,),
        )
        return run_progress(run, counts, self.cancel_request(run_id))

    def trial_page(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int = 50,
        condition: str | None = None,
        item: str | None = None,
        status: str | None = None,
    ) -> TrialPage:
        filters = {"condition": condition, "item_id": item, "status": status}
        where, args = where_clause(filters, "?")
        where = f" FROM trials WHERE run_id = ?{where}"
        total = self._conn.execute(f"SELECT COUNT(*){where}", (run_id, *args)).fetchone()[0]
        rows = self._conn.execute(
            f"{self._table_select()}{where}{_IN_ORDER} LIMIT ? OFFSET ?",
            (run_id, *args, max(0, limit), max(0, offset)),
        )
        return TrialPage(total, [trial_fields(row, include_outputs=False) for row in rows])

    def trial_detail(self, run_id: str, trial_key: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT * FROM trials WHERE run_id = ? AND trial_key = ?", (run_id, trial_key)
        ).fetchone()
        if row is None:
            return None
        trial = dict(row)
        for column in JSON_COLUMNS.intersection(trial):
            trial[column] = decoded(trial[column])
        trial["item"] = self._item(run_id, trial["item_id"])
        lines = self._conn.execute(
            f"{_LOG_SELECT} AND trial_key = ? ORDER BY id", (run_id, trial_key)
        )
        trial["logs"] = [dataclasses.asdict(log_line(line)) for line in lines]
        return trial

    def _item(self, run_id: str, item_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT input, expected, metadata, cluster FROM items WHERE run_id = ? AND item_id = ?",
            (run_id, item_id),
        ).fetchone()
        if row is None:
            return None
        return {name: decoded(row[name]) for name in ("input", "expected", "metadata")} | {
            "cluster": row["cluster"]
        }

    def log_page(
        self,
        run_id: str,
        *,
        after_id: int = 0,
        limit: int = 200,
        level: str | None = None,
        condition: str | None = None,
        item: str | None = None,
    ) -> list[LogLine]:
        filters = {"level": level, "condition": condition, "item_id": item}
        where, args = where_clause(filters, "?")
        rows = self._conn.execute(
            f"{_LOG_SELECT} AND id > ?{where} ORDER BY id LIMIT ?",
            (run_id, after_id, *args, max(0, limit)),
        )
        return [log_line(row) for row in rows]

    # -- instances ------------------------------------------------------------------------

    def save_instance(self, instance: Instance) -> None:
        with self._write():
            self._conn.execute(_INSTANCE_UPSERT, instance_row(instance))

    def instances(self, experiment: str | None = None) -> list[Instance]:
        if not self._has_table("instances"):
            return []
        where, args = where_clause({"experiment": experiment}, "?")
        rows = self._conn.execute(f"SELECT * FROM instances WHERE 1 = 1{where} ORDER BY name", args)
        return [instance_from_row(row) for row in rows]

    def instance(self, name: str) -> Instance | None:
        row = self._first_row("instances", "SELECT * FROM instances WHERE name = ?", (name,))
        return None if row is None else instance_from_row(row)

    def delete_instance(self, name: str) -> bool:
        with self._write():
            cursor = self._conn.execute("DELETE FROM instances WHERE name = ?", (name,))
        return cursor.rowcount > 0
