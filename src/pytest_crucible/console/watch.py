"""What a run looks like from outside pytest: the one read side of the dashboard and the MCP
server. Every function takes an open `ResultStore` and returns JSON-able dicts and lists (no
dataclasses, no pandas), never a secret: a database URL is masked, the environment record was
masked when it was stored, and only its harmless parts are passed on.

An unknown run or experiment raises `NotFound`, whose message names the runs there are.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from pytest_crucible.console.errors import ConsoleError, NotFound
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.run_records import RunInfo

__all__ = [
    "MAX_PAGE",
    "experiment",
    "experiments",
    "logs",
    "progress",
    "run",
    "runs",
    "trial",
    "trials",
]

MAX_PAGE = 500  # trials or log lines in one answer: a page, never a whole run
_LISTED = 5  # run ids or experiment names an error message offers
# the parts of a run's environment record a page may show (argv and paths stay in the store)
_ENVIRONMENT_SHOWN = ("python", "implementation", "platform", "machine", "packages", "git")


def experiments(store: ResultStore) -> list[dict[str, Any]]:
    """Every experiment with stored runs: name, description, runs, the newest run's id,
    status and start; by name."""
    newest: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for row in store.run_table():  # newest first: the first row of a name is its newest run
        name = row["experiment"]
        counts[name] = counts.get(name, 0) + 1
        newest.setdefault(name, row)
    return [
        {
            "name": name,
            "description": _header(row).get("description") or "",
            "runs": counts[name],
            "last_run": {
                "run_id": row["run_id"],
                "status": row["status"],
                "started_at": row["started_at"],
            },
        }
        for name, row in sorted(newest.items())
    ]


def experiment(store: ResultStore, name: str) -> dict[str, Any]:
    """One experiment as its newest run declared it (description, conditions, baseline,
    metrics, repeats, seed, config values with their types) and its runs, newest first."""
    rows = store.run_table(name)
    if not rows:
        known = sorted({info.experiment for info in store.runs()})
        offered = ", ".join(known[:_LISTED]) if known else "none yet: run `pytest --crucible`"
        raise NotFound(f"no stored run of experiment {name!r}; experiments with runs: {offered}")
    header = _header(rows[0])
    return {
        "name": name,
        "description": header.get("description") or "",
        "conditions": list(header.get("conditions") or []),
        "baseline": header.get("baseline"),
        "metrics": header.get("metrics") or {},
        "repeat": header.get("repeat"),
        "seed": header.get("seed"),
        "config": _config_fields(header.get("config")),
        "runs": runs(store, name),
    }


def runs(store: ResultStore, experiment: str | None = None) -> list[dict[str, Any]]:
    """The stored runs (of `experiment`), newest first: status, timings, trial counts, cost
    and git commit."""
    commits = {row["run_id"]: row.get("git_commit") for row in store.run_table(experiment)}
    return [_run_summary(store, info, commits.get(info.run_id)) for info in store.runs(experiment)]


def run(store: ResultStore, run_id: str) -> dict[str, Any]:
    """One run: its summary, what its header declared, its progress, and the stored analysis
    and gate verdicts once the session end wrote them (None before)."""
    info = _run_info(store, run_id)
    record = store.run_record(run_id)
    header = record.header
    analysis = record.analysis
    return {
        **_run_summary(store, info, record.columns.get("git_commit")),
        "description": header.get("description") or "",
        "conditions": list(header.get("conditions") or []),
        "baseline": header.get("baseline"),
        "metrics": header.get("metrics") or {},
        "repeat": header.get("repeat"),
        "items": header.get("items"),
        "config": _config_fields(record.config if record.config else header.get("config")),
        "environment": _environment(record.environment),
        "progress": progress(store, run_id),
        "analysis": analysis,
        "gates": analysis.get("gates") if isinstance(analysis, dict) else None,
    }


def progress(store: ResultStore, run_id: str) -> dict[str, Any]:
    """How far a run is, from one cheap query: per condition passed/failed/skipped, stored
    of total, the last trial's time and a pending cancel request."""
    _run_info(store, run_id)
    state = dataclasses.asdict(store.run_progress(run_id))
    total = state["total_trials"] or 0
    state["fraction"] = min(1.0, state["stored"] / total) if total else 0.0
    per_condition = _per_condition_total(store, run_id, total, len(state["by_condition"]))
    for condition in state["by_condition"]:
        done = condition["passed"] + condition["failed"] + condition["skipped"]
        condition["stored"] = done
        condition["total"] = per_condition
    return state


def trials(
    store: ResultStore,
    run_id: str,
    offset: int = 0,
    limit: int = 50,
    condition: str | None = None,
    item: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    """One page of a run's trials (by condition, item, repeat), without their outputs:
    `total` (matching the filters), `offset`, `limit` and `rows`."""
    _run_info(store, run_id)
    offset, limit = _page_bounds(offset, limit)
    page = store.trial_page(
        run_id, offset=offset, limit=limit, condition=condition, item=item, status=status
    )
    return {"total": page.total, "offset": offset, "limit": limit, "rows": page.rows}


def trial(store: ResultStore, run_id: str, trial_key: str) -> dict[str, Any]:
    """One trial with everything stored of it (output, error, metrics, artifacts, its item
    and its log lines)."""
    _run_info(store, run_id)
    found = store.trial_detail(run_id, trial_key)
    if found is None:
        raise NotFound(
            f"run {run_id} has no stored trial {trial_key!r}; its trials are listed at "
            f"/runs/{run_id} (or /api/runs/{run_id}/trials)"
        )
    return found


def logs(
    store: ResultStore,
    run_id: str,
    after_id: int = 0,
    limit: int = 200,
    level: str | None = None,
    condition: str | None = None,
    item: str | None = None,
) -> dict[str, Any]:
    """A run's log lines with an id above `after_id` (ascending, filtered): `lines`, and
    `after_id` to ask for the next ones with."""
    _run_info(store, run_id)
    if after_id < 0:
        raise ConsoleError(f"after_id={after_id}: give 0 (the first lines) or a line's id")
    _, limit = _page_bounds(0, limit)
    found = store.log_page(
        run_id, after_id=after_id, limit=limit, level=level, condition=condition, item=item
    )
    lines = [dataclasses.asdict(line) for line in found]
    return {"lines": lines, "after_id": lines[-1]["id"] if lines else after_id}


# -- helpers ----------------------------------------------------------------------------------


def _run_info(store: ResultStore, run_id: str) -> RunInfo:
    info = store.run(run_id)
    if info is not None:
        return info
    recent = [f"{other.run_id} ({other.experiment})" for other in store.runs()[:_LISTED]]
    offered = ", ".join(recent) if recent else "none yet: run `pytest --crucible`"
    raise NotFound(f"no run {run_id!r} in the store; the newest runs: {offered}")


def _run_summary(store: ResultStore, info: RunInfo, git_commit: Any) -> dict[str, Any]:
    spent = store.spent_by_condition(info.run_id)
    return {
        "run_id": info.run_id,
        "experiment": info.experiment,
        "status": info.status,
        "started_at": info.started_at,
        "ended_at": info.ended_at,
        "duration_s": _duration_s(info.started_at, info.ended_at),
        "total": info.total_trials,
        "stored": info.stored_trials,
        "passed": info.passed_trials,
        "failed": info.stored_trials - info.passed_trials,
        "cost_usd": round(sum(spent.values()), 6) if spent else None,
        "git_commit": git_commit if isinstance(git_commit, str) else None,
    }


def _duration_s(started_at: str, ended_at: str | None) -> float | None:
    """Seconds from start to end (to now while a run goes on); None for an unreadable time."""
    try:
        start = datetime.fromisoformat(started_at)
        end = datetime.fromisoformat(ended_at) if ended_at else datetime.now(UTC)
    except (TypeError, ValueError):
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def _per_condition_total(store: ResultStore, run_id: str, total: int, conditions: int) -> int:
    """A condition's share of the run's trials (every condition runs the same items and
    repeats); from the header's conditions when the progress has not seen them all yet."""
    declared = len(_conditions_of(store, run_id)) or conditions
    return total // declared if declared else total


def _conditions_of(store: ResultStore, run_id: str) -> list[str]:
    try:
        return list(store.run_header(run_id).get("conditions") or [])
    except Exception:
        return []


def _page_bounds(offset: int, limit: int) -> tuple[int, int]:
    if offset < 0:
        raise ConsoleError(f"offset={offset}: give 0 or more")
    if limit < 1:
        raise ConsoleError(f"limit={limit}: give 1 to {MAX_PAGE}")
    return offset, min(limit, MAX_PAGE)


def _header(row: dict[str, Any]) -> dict[str, Any]:
    header = row.get("header")
    return header if isinstance(header, dict) else {}


def _config_fields(config: Any) -> list[dict[str, Any]]:
    """A run's config values as fields: name, value and its JSON type."""
    if not isinstance(config, dict):
        return []
    return [
        {"name": name, "value": value, "type": _json_type(value)}
        for name, value in sorted(config.items())
    ]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _environment(environment: Any) -> dict[str, Any]:
    if not isinstance(environment, dict):
        return {}
    return {key: environment[key] for key in _ENVIRONMENT_SHOWN if key in environment}
