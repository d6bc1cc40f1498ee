"""The PostgreSQL store's read operations (`ResultStore` in interface.py names them;
`PostgresStore` in postgres.py inherits them).

JSON columns are read as JSON text (`::text`) and shaped by `shapes.py`, as the SQLite
store's are, so that both backends give the same values. Text is ordered by its bytes
(`COLLATE "C"`), as SQLite orders it, whatever the database's locale.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pytest_crucible.errors import StoreError
from pytest_crucible.store.postgres_connection import explain
from pytest_crucible.store.records import USAGE_COUNTS
from pytest_crucible.store.run_records import (
    ConditionUsage,
    RunInfo,
    RunRecord,
    StoredBaseline,
    TrialSpan,
)
from pytest_crucible.store.schema import RUN_COLUMNS
from pytest_crucible.store.shapes import (
    JSON_COLUMNS,
    PLAIN,
    RUN_JSON,
    decoded,
    run_fields,
    run_info,
    trial_fields,
    trial_line,
)

__all__ = ["IN_ORDER", "TRIALS_OF_RUN", "PostgresReads"]

_IN_ORDER = IN_ORDER = ' ORDER BY condition COLLATE "C", item_id COLLATE "C", repeat'
_USAGE = ", ".join(f"(usage->>'{name}')::bigint AS {name}" for name in USAGE_COUNTS)
_AS_TEXT = ", ".join(f"{name}::text AS {name}" for name in sorted(JSON_COLUMNS))
# every column a trial_table row and its line need, JSON as text, in one read
TRIALS_OF_RUN = (
    f"SELECT {', '.join(PLAIN)}, {_USAGE}, {_AS_TEXT},"
    " CASE WHEN jsonb_typeof(error) = 'object' THEN error->>'type' END AS error_type"
    " FROM trials WHERE run_id = %s"
)
_TRIAL_SELECT = TRIALS_OF_RUN + _IN_ORDER
_RUN_SELECT = (
    f"SELECT {', '.join(f'r.{name}' for name in RUN_COLUMNS)},"
    f" {', '.join(f'r.{name}::text AS {name}' for name in RUN_JSON)},"
    " COUNT(t.run_id) AS stored,"
    " COALESCE(SUM(CASE WHEN t.status = 'passed' THEN 1 ELSE 0 END), 0)::bigint AS passed"
    " FROM runs r LEFT JOIN trials t ON t.run_id = r.run_id {where}"
    ' GROUP BY r.run_id ORDER BY r.started_at COLLATE "C" DESC, r.seq DESC'
)


class PostgresReads:
    """Read operations over `self._conn`, one operation at a time (`self._lock`)."""

    location: str
    _url: str
    _lock: threading.RLock

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        raise NotImplementedError  # postgres.py: the open connection, reopened if lost

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of one query, by column name."""
        with self._lock:
            try:
                cursor = self._connection().cursor(row_factory=dict_row)
                return cursor.execute(sql, args).fetchall()
            except psycopg.Error as exc:
                raise explain(exc, self._url) from None

    def _column(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return [next(iter(row.values())) for row in self._fetch(sql, args)]

    # -- runs -------------------------------------------------------------------------------

    def _run_rows(self, where: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        return self._fetch(_RUN_SELECT.replace("{where}", where), args)

    def runs(self, experiment: str | None = None) -> list[RunInfo]:
        """Stored runs, newest first."""
        where, args = ("WHERE r.experiment = %s", (experiment,)) if experiment else ("", ())
        return [run_info(row) for row in self._run_rows(where, args)]

    def run_table(self, experiment: str | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE r.experiment = %s", (experiment,)) if experiment else ("", ())
        return [run_fields(row) for row in self._run_rows(where, args)]

    def run(self, run_id: str) -> RunInfo | None:
        """One stored run (counting only its own trials), or None."""
        found = self._run_rows("WHERE r.run_id = %s", (run_id,))
        return run_info(found[0]) if found else None

    def run_header(self, run_id: str) -> dict[str, Any]:
        return dict(json.loads(self._run_json(run_id, "header")["header"]))

    def run_record(self, run_id: str) -> RunRecord:
        row = self._run_json(run_id, "*")
        return RunRecord(
            columns={name: row[name] for name in RUN_COLUMNS},
            header=dict(json.loads(row["header"])),
            config=decoded(row["config"], {}),
            environment=decoded(row["environment"], {}),
            analysis=dict(json.loads(row["analysis"])) if row["analysis"] else None,
        )

    def _run_json(self, run_id: str, columns: str) -> dict[str, Any]:
        """A run's row: `columns` ("*": every plain column), its JSON columns as text."""
        plain = ", ".join(RUN_COLUMNS) if columns == "*" else "run_id"
        json_columns = RUN_JSON if columns == "*" else (columns,)
        as_text = ", ".join(f"{name}::text AS {name}" for name in json_columns)
        found = self._fetch(f"SELECT {plain}, {as_text} FROM runs WHERE run_id = %s", (run_id,))
        if not found:
            raise StoreError(f"store {self.location} has no run {run_id!r}")
        return found[0]

    # -- trials ---------------------------------------------------------------------------

    def completed_keys(self, run_id: str) -> list[str]:
        """Keys of the trials of a run that passed: resume does not run these again."""
        return self._column(
            "SELECT trial_key FROM trials WHERE run_id = %s AND status = 'passed'"
            ' ORDER BY trial_key COLLATE "C"',
            (run_id,),
        )

    def failed_keys(self, run_id: str) -> list[str]:
        return self._column(
            "SELECT trial_key FROM trials WHERE run_id = %s AND status = 'failed'", (run_id,)
        )

    def trial_table(
        self, run_id: str, *, include_outputs: bool = False, with_lines: bool = False
    ) -> list[dict[str, Any]]:
        table = []
        for row in self._fetch(_TRIAL_SELECT, (run_id,)):
            record = trial_fields(row, include_outputs=include_outputs)
            if with_lines:
                record["line"] = trial_line(run_id, row)
            table.append(record)
        return table

    def stored_trials(self, run_id: str) -> list[dict[str, Any]]:
        """The stored trials of a run, every column, JSON decoded, in condition, item,
        repeat order."""
        trials = self._fetch(f"SELECT * FROM trials WHERE run_id = %s{_IN_ORDER}", (run_id,))
        for trial in trials:
            del trial["seq"]
        return trials

    def trial_lines(self, run_id: str) -> list[str]:
        """One JSON object per trial (results.jsonl): metrics keep their types."""
        return [trial_line(run_id, row) for row in self._fetch(_TRIAL_SELECT, (run_id,))]

    def items(self, run_id: str) -> dict[str, dict[str, Any]]:
        """item_id -> input, expected, metadata, cluster, in the order they were stored."""
        rows = self._fetch(
            "SELECT item_id, input, expected, metadata, cluster FROM items WHERE run_id = %s"
            " ORDER BY seq",
            (run_id,),
        )
        return {row.pop("item_id"): row for row in rows}

    def logs(self, run_id: str) -> dict[str, list[tuple[str, str, str]]]:
        """trial_key -> [(level, created_at, message)], in the order they were stored."""
        rows = self._fetch(
            "SELECT trial_key, level, created_at, message FROM logs WHERE run_id = %s ORDER BY id",
            (run_id,),
        )
        logs: dict[str, list[tuple[str, str, str]]] = {}
        for row in rows:
            logs.setdefault(row["trial_key"], []).append(
                (row["level"], row["created_at"], row["message"])
            )
        return logs

    # -- spending and timing --------------------------------------------------------------

    def spent_by_condition(self, run_id: str) -> dict[str, float]:
        rows = self._fetch(
            "SELECT condition, sum(cost_usd) AS spent FROM trials WHERE run_id = %s"
            " AND status = 'passed' AND cost_usd IS NOT NULL GROUP BY condition",
            (run_id,),
        )
        return {row["condition"]: float(row["spent"]) for row in rows}

    def usage_by_condition(self, run_id: str) -> list[ConditionUsage]:
        """Tokens, cost and answer counts per condition of a run, in condition order."""
        count = "sum((usage->>'{0}')::bigint)::bigint AS {0}"
        rows = self._fetch(
            "SELECT condition, sum(input_tokens)::bigint AS input_tokens,"
            " sum(output_tokens)::bigint AS output_tokens, sum(cost_usd) AS cost_usd,"
            " count(cost_usd) AS priced, count(input_tokens) AS counted,"
            f" {count.format('model_calls')}, {count.format('cache_hits')},"
            f" {count.format('truncated')},"
            " max((usage->>'truncated_at')::bigint) AS truncated_at"
            ' FROM trials WHERE run_id = %s GROUP BY condition ORDER BY condition COLLATE "C"',
            (run_id,),
        )
        return [ConditionUsage(*row.values()) for row in rows]

    def trial_spans(self, run_id: str) -> list[TrialSpan]:
        """The passed trials of a run with their times and usage, in start order."""
        rows = self._fetch(
            "SELECT condition, started_at, ended_at, input_tokens, output_tokens, cost_usd"
            " FROM trials WHERE run_id = %s AND status = 'passed'"
            ' ORDER BY started_at COLLATE "C", seq',
            (run_id,),
        )
        return [TrialSpan(*row.values()) for row in rows]

    def sessions(self, run_id: str) -> list[tuple[str, str]]:
        rows = self._fetch(
            "SELECT started_at, ended_at FROM run_sessions WHERE run_id = %s ORDER BY seq",
            (run_id,),
        )
        return [(row["started_at"], row["ended_at"]) for row in rows]

    # -- the call cache and baselines -----------------------------------------------------

    def cached_response(self, cache_key: str) -> dict[str, Any] | None:
        found = self._column("SELECT response FROM model_calls WHERE cache_key = %s", (cache_key,))
        return dict(found[0]) if found else None

    def baselines(
        self, name: str | None = None, experiment: str | None = None
    ) -> list[StoredBaseline]:
        """The baselines kept in the store (of `name`, of `experiment`), by name."""
        rows = self._fetch(
            "SELECT name, experiment, run_id, created_at FROM baselines"
            " WHERE (%s::text IS NULL OR name = %s) AND (%s::text IS NULL OR experiment = %s)"
            ' ORDER BY name COLLATE "C", experiment COLLATE "C"',
            (name, name, experiment, experiment),
        )
        return [StoredBaseline(**row) for row in rows]

    def baseline_document(self, name: str, experiment: str) -> dict[str, Any]:
        found = self._column(
            "SELECT data FROM baselines WHERE name = %s AND experiment = %s", (name, experiment)
        )
        if not found:
            raise StoreError(f"store {self.location} has no baseline {name!r} of {experiment!r}")
        return dict(found[0])
