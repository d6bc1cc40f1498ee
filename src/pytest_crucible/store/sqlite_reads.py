"""The SQLite store's read operations beyond runs: a run's trials in the shapes the other
layers take them, its items and logs, usage and timing per condition, the call cache and the
baselines (`ResultStore` in interface.py names them; `Store` in sqlite.py inherits them)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pytest_crucible.store.records import USAGE_COUNTS, column_names
from pytest_crucible.store.run_records import ConditionUsage, StoredBaseline, TrialSpan
from pytest_crucible.store.shapes import decoded, trial_fields, trial_line

__all__ = ["SQLiteReads", "decoded"]

_PLAIN = column_names(json=False)
_JSON = frozenset(column_names(json=True))
_EXPORTED = column_names(exported=True)
_IN_ORDER = " ORDER BY condition, item_id, repeat"
# the type of a trial's error (TrialTimeout, say), for counting without decoding every error
_ERROR_TYPE = "CASE WHEN json_valid(error) THEN json_extract(error, '$.type') END AS error_type"


class SQLiteReads:
    """Read operations over `self._conn` (a connection whose rows are `sqlite3.Row`)."""

    _conn: sqlite3.Connection

    # -- trials ---------------------------------------------------------------------------

    def failed_keys(self, run_id: str) -> list[str]:
        """Keys of the trials of a run that failed (--crucible-resume-failed runs these)."""
        rows = self._conn.execute(
            "SELECT trial_key FROM trials WHERE run_id = ? AND status = 'failed'", (run_id,)
        )
        return [row[0] for row in rows]

    def trial_table(
        self, run_id: str, *, include_outputs: bool = False, with_lines: bool = False
    ) -> list[dict[str, Any]]:
        select = self._table_select(", output, error" if include_outputs else "")
        where = f" FROM trials WHERE run_id = ?{_IN_ORDER}"
        lines: list[str] | None = None
        try:
            rows = self._conn.execute(
                select + (f", {self._line_select()} AS line" if with_lines else "") + where,
                (run_id,),
            ).fetchall()
        except sqlite3.Error:  # a stored value that is not strict JSON: Python writes lines
            rows = self._conn.execute(select + where, (run_id,)).fetchall()
            lines = self._trial_lines_in_python(run_id)
        table = []
        for number, row in enumerate(rows):
            record = trial_fields(row, include_outputs=include_outputs)
            if with_lines:
                record["line"] = row["line"] if lines is None else lines[number]
            table.append(record)
        return table

    def _table_select(self, extra: str = "") -> str:
        """The SELECT of the columns a `trial_table` row is shaped from (`extra` added)."""
        results = self._column_or_null("results")
        return (
            f"SELECT {', '.join(_PLAIN)}, {', '.join(self._usage_selects())}, metrics,"
            f" {results}, {_ERROR_TYPE}{extra}"
        )

    def _line_select(self) -> str:
        present = self._trial_columns()
        fields = ", ".join(
            f"'{name}', NULL"
            if name not in present
            else f"'{name}', json({name})"
            if name in _JSON
            else f"'{name}', {name}"
            for name in _EXPORTED
        )
        return f"json_object('run_id', run_id, {fields})"

    def _trial_columns(self) -> set[str]:
        """The trials table's columns: a store older than the running version, opened
        read-only (not migrated), lacks the newer ones."""
        return {row[1] for row in self._conn.execute("PRAGMA table_info(trials)")}

    def _column_or_null(self, name: str) -> str:
        return name if name in self._trial_columns() else f"NULL AS {name}"

    def _usage_selects(self) -> list[str]:
        # null when the trial made no model call; the column is missing from a store older
        # than schema version 3 opened read-only
        if "usage" not in self._trial_columns():
            return [f"NULL AS {name}" for name in USAGE_COUNTS]
        return [f"json_extract(usage, '$.{name}') AS {name}" for name in USAGE_COUNTS]

    def stored_trials(self, run_id: str) -> list[dict[str, Any]]:
        """The stored trials of a run, every column, JSON decoded, in condition, item,
        repeat order."""
        rows = self._conn.execute(f"SELECT * FROM trials WHERE run_id = ?{_IN_ORDER}", (run_id,))
        trials = []
        for row in rows:
            trial = dict(row)
            for column in _JSON.intersection(trial):
                if trial[column] is not None:
                    trial[column] = json.loads(trial[column])
            trials.append(trial)
        return trials

    def trial_lines(self, run_id: str) -> list[str]:
        """One JSON object per trial, as stored (results.jsonl): metrics keep their types.
        SQLite builds the lines (fast); Python does when a stored value is not strict JSON
        (a NaN in an output, say)."""
        sql = f"SELECT {self._line_select()} FROM trials WHERE run_id = ?{_IN_ORDER}"
        try:
            return [row[0] for row in self._conn.execute(sql, (run_id,))]
        except sqlite3.Error:
            return self._trial_lines_in_python(run_id)

    def _trial_lines_in_python(self, run_id: str) -> list[str]:
        selects = ", ".join(self._column_or_null(name) for name in _EXPORTED)
        rows = self._conn.execute(
            f"SELECT {selects} FROM trials WHERE run_id = ?{_IN_ORDER}", (run_id,)
        )
        return [trial_line(run_id, row) for row in rows]

    def items(self, run_id: str) -> dict[str, dict[str, Any]]:
        """item_id -> input, expected, metadata, cluster, in the order they were stored."""
        rows = self._conn.execute(
            "SELECT item_id, input, expected, metadata, cluster FROM items WHERE run_id = ?"
            " ORDER BY rowid",
            (run_id,),
        )
        return {
            row["item_id"]: {
                "input": decoded(row["input"]),
                "expected": decoded(row["expected"]),
                "metadata": decoded(row["metadata"]),
                "cluster": row["cluster"],
            }
            for row in rows
        }

    def logs(self, run_id: str) -> dict[str, list[tuple[str, str, str]]]:
        """trial_key -> [(level, created_at, message)], in the order they were stored."""
        rows = self._conn.execute(
            "SELECT trial_key, level, created_at, message FROM logs WHERE run_id = ? ORDER BY id",
            (run_id,),
        )
        logs: dict[str, list[tuple[str, str, str]]] = {}
        for key, level, created_at, message in rows:
            logs.setdefault(key, []).append((level, created_at, message))
        return logs

    # -- spending and timing --------------------------------------------------------------

    def spent_by_condition(self, run_id: str) -> dict[str, float]:
        """What the passed trials of a run cost, per condition (those with a cost)."""
        rows = self._conn.execute(
            "SELECT condition, sum(cost_usd) FROM trials WHERE run_id = ? AND status = 'passed'"
            " AND cost_usd IS NOT NULL GROUP BY condition",
            (run_id,),
        )
        return {row[0]: float(row[1]) for row in rows}

    def usage_by_condition(self, run_id: str) -> list[ConditionUsage]:
        """Tokens, cost and answer counts per condition of a run, in condition order."""
        rows = self._conn.execute(
            "SELECT condition, sum(input_tokens), sum(output_tokens), sum(cost_usd), "
            "count(cost_usd), count(input_tokens), sum(json_extract(usage, '$.model_calls')), "
            "sum(json_extract(usage, '$.cache_hits')), sum(json_extract(usage, '$.truncated')),"
            " max(json_extract(usage, '$.truncated_at')) FROM trials WHERE run_id = ? "
            "GROUP BY condition ORDER BY condition",
            (run_id,),
        )
        return [ConditionUsage(*row) for row in rows]

    def trial_spans(self, run_id: str) -> list[TrialSpan]:
        """The passed trials of a run with their times and usage, in start order."""
        rows = self._conn.execute(
            "SELECT condition, started_at, ended_at, input_tokens, output_tokens, cost_usd"
            " FROM trials WHERE run_id = ? AND status = 'passed' ORDER BY started_at, rowid",
            (run_id,),
        )
        return [TrialSpan(*row) for row in rows]

    def sessions(self, run_id: str) -> list[tuple[str, str]]:
        """(started_at, ended_at) of each recorded session of a run, oldest first."""
        if not self._has_table("run_sessions"):
            return []
        rows = self._conn.execute(
            "SELECT started_at, ended_at FROM run_sessions WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        )
        return [(started, ended) for started, ended in rows]

    # -- the call cache and baselines -----------------------------------------------------

    def cached_response(self, cache_key: str) -> dict[str, Any] | None:
        """The recorded model response of a request (None when there is none)."""
        try:
            row = self._conn.execute(
                "SELECT response FROM model_calls WHERE cache_key = ?", (cache_key,)
            ).fetchone()
        except sqlite3.OperationalError:  # a store older than the cache table
            return None
        return None if row is None else dict(json.loads(row[0]))

    def baselines(
        self, name: str | None = None, experiment: str | None = None
    ) -> list[StoredBaseline]:
        """The baselines kept in the store (of `name`, of `experiment`), by name."""
        if not self._has_table("baselines"):
            return []
        where, args = [], []
        if name is not None:
            where.append("name = ?")
            args.append(name)
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._conn.execute(
            f"SELECT name, experiment, run_id, created_at FROM baselines {clause}"
            " ORDER BY name, experiment",
            tuple(args),
        )
        return [StoredBaseline(*row) for row in rows]

    def baseline_document(self, name: str, experiment: str) -> dict[str, Any]:
        row = self._conn.execute(
            "SELECT data FROM baselines WHERE name = ? AND experiment = ?", (name, experiment)
        ).fetchone()
        return dict(json.loads(row["data"]))

    def _has_table(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self._conn.execute(query, (name,)).fetchone() is not None

    def _first_row(self, table: str, query: str, args: tuple[Any, ...]) -> sqlite3.Row | None:
        """The first row `query` reads from `table`; None without one, or while `table` (made
        on first use) does not exist."""
        if not self._has_table(table):
            return None
        row: sqlite3.Row | None = self._conn.execute(query, args).fetchone()
        return row
