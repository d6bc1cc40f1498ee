"""The PostgreSQL store's operations for watching and steering runs (issue 18; their
semantics are in interface.py, the shapes in console_shapes.py, shared with SQLite):
cancel requests, progress, pages of trials and logs, a trial's detail, instances.
`PostgresStore` (postgres.py) inherits them.

A store older than schema version 3 opened read-only lacks the tables run_cancels and
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
from pytest_crucible.store.postgres_reads import IN_ORDER, TRIALS_OF_RUN
from pytest_crucible.store.postgres_scale import PostgresScale
from pytest_crucible.store.postgres_values import safe_row
from pytest_crucible.store.rows import utc_now
from pytest_crucible.store.shapes import trial_fields

__all__ = ["PostgresConsole"]

_LOG_SELECT = f"SELECT {', '.join(LOG_LINE_COLUMNS)} FROM logs WHERE run_id = %s"
_INSTANCE_JSON = ("config", "conditions")
_INSTANCE_KINDS = "".join("j" if n in _INSTANCE_JSON else "t" for n in INSTANCE_COLUMNS)
_INSTANCE_UPSERT = (
    f"INSERT INTO instances({', '.join(INSTANCE_COLUMNS)}) VALUES ("
    + ", ".join("%s::jsonb" if n in _INSTANCE_JSON else "%s" for n in INSTANCE_COLUMNS)
    + ") ON CONFLICT (name) DO UPDATE SET "
    + ", ".join(f"{n} = EXCLUDED.{n}" for n in INSTANCE_COLUMNS if n not in ("name", "created_at"))
)


class PostgresConsole(PostgresScale):
    """Issue 18's operations over `self._fetch` and `self._write` (postgres.py)."""

    _tables_seen: frozenset[str] = frozenset()

    def _has_table(self, name: str) -> bool:
        """Whether the store has table `name` (an older store read as it is may not); a
        table once seen is not asked about again (the sessions poll twice a second)."""
        if name in self._tables_seen:
            return True
        found = self._column("SELECT to_regclass(%s) IS NOT NULL", (name,))[0]
        if found:
            self._tables_seen = self._tables_seen | {name}
        return bool(found)

    # -- cancel requests ------------------------------------------------------------------

    def request_cancel(self, run_id: str, reason: str) -> bool:
        with self._write() as cursor:
            # the run's row locked: a session finishing the run at once waits, or is seen
            cursor.execute("SELECT status FROM runs WHERE run_id = %s FOR UPDATE", (run_id,))
            row = cursor.fetchone()
            if row is None or row[0] != "running":
                return False
            cursor.execute(
                "INSERT INTO run_cancels(run_id, reason, requested_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (run_id) DO NOTHING",
                (run_id, reason, utc_now()),
            )
        return True

    def cancel_request(self, run_id: str) -> str | None:
        if not self._has_table("run_cancels"):
            return None
        found = self._column("SELECT reason FROM run_cancels WHERE run_id = %s", (run_id,))
        return str(found[0]) if found else None

    # -- progress, trials and logs --------------------------------------------------------

    def run_progress(self, run_id: str) -> RunProgress:
        runs = self._fetch(
            "SELECT run_id, status, total_trials FROM runs WHERE run_id = %s", (run_id,)
        )
        if not runs:
            raise StoreError(f"store {self.location} has no run {run_id!r}")
        rows = self._fetch(
            "SELECT condition, status, COUNT(*) AS n, MAX(ended_at) AS last FROM trials"
            " WHERE run_id = %s GROUP BY condition, status",
            (run_id,),
        )
        counts = [(r["condition"], r["status"], r["n"], r["last"]) for r in rows]
        return run_progress(runs[0], counts, self.cancel_request(run_id))

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
        where, args = where_clause(filters, "%s")
        total = self._column(
            f"SELECT COUNT(*) FROM trials WHERE run_id = %s{where}", (run_id, *args)
        )[0]
        rows = self._fetch(
            f"{TRIALS_OF_RUN}{where}{IN_ORDER} LIMIT %s OFFSET %s",
            (run_id, *args, max(0, limit), max(0, offset)),
        )
        return TrialPage(int(total), [trial_fields(row, include_outputs=False) for row in rows])

    def trial_detail(self, run_id: str, trial_key: str) -> dict[str, Any] | None:
        found = self._fetch(
            "SELECT * FROM trials WHERE run_id = %s AND trial_key = %s", (run_id, trial_key)
        )
        if not found:
            return None
        trial = found[0]
        del trial["seq"]
        items = self._fetch(
            "SELECT input, expected, metadata, cluster FROM items"
            " WHERE run_id = %s AND item_id = %s",
            (run_id, trial["item_id"]),
        )
        trial["item"] = items[0] if items else None
        lines = self._fetch(f"{_LOG_SELECT} AND trial_key = %s ORDER BY id", (run_id, trial_key))
        trial["logs"] = [dataclasses.asdict(log_line(line)) for line in lines]
        return trial

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
        where, args = where_clause(filters, "%s")
        rows = self._fetch(
            f"{_LOG_SELECT} AND id > %s{where} ORDER BY id LIMIT %s",
            (run_id, after_id, *args, max(0, limit)),
        )
        return [log_line(row) for row in rows]

    # -- instances ------------------------------------------------------------------------

    def save_instance(self, instance: Instance) -> None:
        with self._write() as cursor:
            cursor.execute(_INSTANCE_UPSERT, safe_row(instance_row(instance), _INSTANCE_KINDS))

    def instances(self, experiment: str | None = None) -> list[Instance]:
        if not self._has_table("instances"):
            return []
        where, args = where_clause({"experiment": experiment}, "%s")
        rows = self._fetch(
            f'SELECT * FROM instances WHERE TRUE{where} ORDER BY name COLLATE "C"', args
        )
        return [instance_from_row(row) for row in rows]

    def instance(self, name: str) -> Instance | None:
        if not self._has_table("instances"):
            return None
        rows = self._fetch("SELECT * FROM instances WHERE name = %s", (name,))
        return instance_from_row(rows[0]) if rows else None

    def delete_instance(self, name: str) -> bool:
        with self._write() as cursor:
            cursor.execute("DELETE FROM instances WHERE name = %s", (name,))
            return cursor.rowcount > 0
