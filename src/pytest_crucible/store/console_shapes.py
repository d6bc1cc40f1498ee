"""The shapes of what the dashboard and `crucible cancel` read and write (issue 18), whatever
the backend: progress counts, log lines, instances, the filters of a page of trials or logs.
Each backend runs its own SQL and hands its rows here, so that both give the same values."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_crucible.store.console_records import ConditionProgress, Instance, LogLine, RunProgress
from pytest_crucible.store.rows import dump
from pytest_crucible.store.shapes import Row, decoded

__all__ = [
    "INSTANCE_COLUMNS",
    "LOG_LINE_COLUMNS",
    "Filters",
    "instance_from_row",
    "instance_row",
    "log_line",
    "run_progress",
    "where_clause",
]

# the columns of the instances table, in the order of `instance_row`
INSTANCE_COLUMNS = tuple(field.name for field in dataclasses.fields(Instance))
LOG_LINE_COLUMNS = tuple(field.name for field in dataclasses.fields(LogLine))
_JSON_FIELDS = ("config", "conditions")

Filters = Mapping[str, Any]  # column -> value a page is filtered on (None: not filtered)


def where_clause(filters: Filters, mark: str) -> tuple[str, list[Any]]:
    """` AND column = MARK` for each filter given (the column names are ours, never the
    caller's), and their values; `level` is compared without regard to case."""
    sql, args = "", []
    for column, value in filters.items():
        if value is None:
            continue
        if column == "level":
            sql += f" AND lower(level) = lower({mark})"
        else:
            sql += f" AND {column} = {mark}"
        args.append(value)
    return sql, args


def run_progress(
    run: Row,
    counts: Iterable[tuple[str, str, int, str | None]],
    cancel_reason: str | None,
) -> RunProgress:
    """A run's progress from its row (run_id, status, total_trials) and its trials counted
    by (condition, status, count, latest ended_at), in condition order."""
    by_condition: dict[str, dict[str, int]] = {}
    last: str | None = None
    for condition, status, count, ended_at in counts:
        by_condition.setdefault(condition, {})[status] = int(count)
        if ended_at is not None and (last is None or ended_at > last):
            last = ended_at
    return RunProgress(
        run_id=run["run_id"],
        status=run["status"],
        total_trials=int(run["total_trials"]),
        stored=sum(sum(statuses.values()) for statuses in by_condition.values()),
        by_condition=[
            ConditionProgress(
                condition,
                statuses.get("passed", 0),
                statuses.get("failed", 0),
                statuses.get("skipped", 0),
            )
            for condition, statuses in sorted(by_condition.items())
        ],
        last_stored_at=last,
        cancel_requested=cancel_reason,
    )


def log_line(row: Row) -> LogLine:
    return LogLine(**{name: row[name] for name in LOG_LINE_COLUMNS})


def instance_row(instance: Instance) -> tuple[Any, ...]:
    """The instances table's values of `instance` (JSON fields as JSON text)."""
    values = dataclasses.asdict(instance)
    for name in _JSON_FIELDS:
        values[name] = dump(values[name])
    return tuple(values[name] for name in INSTANCE_COLUMNS)


def instance_from_row(row: Row) -> Instance:
    """An instance from its row (JSON fields as text, or decoded by the driver)."""
    values = {name: row[name] for name in INSTANCE_COLUMNS}
    for name in _JSON_FIELDS:
        if isinstance(values[name], str):
            values[name] = decoded(values[name])
    values["config"] = dict(values["config"] or {})
    return Instance(**values)
