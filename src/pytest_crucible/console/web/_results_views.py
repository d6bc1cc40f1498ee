"""What the finished-run pages show, read from the store: plain data for the templates.

The statistics are the report's (`review/reports`: `load_run`, `build_report`,
`report_plots`) and `crucible compare`'s (`review/compare_runs.py`): computed there, laid out
here. Trials are read a page at a time (`ResultStore.trial_page` / `trial_detail`), never all.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.console.errors import NotFound
from pytest_crucible.review.reports._artifacts import page_artifacts
from pytest_crucible.store import ResultStore

if TYPE_CHECKING:
    from pytest_crucible.review.gates import BaselineComparison
    from pytest_crucible.review.reports._content import Report

__all__ = [
    "PAGE_SIZE",
    "artifact_of",
    "compare_view",
    "results_view",
    "side_by_side_view",
    "trial_view",
    "trials_listing",
]

PAGE_SIZE = 25  # trials or items on one page
_REPORTS_KEPT = 4  # built reports kept in memory (a report of a large run takes seconds)
_REPEATS_READ = 1000  # trials of one item and condition read to find the same repeat
_reports: OrderedDict[tuple[str, str, str, int], tuple[Report, dict[str, Any]]] = OrderedDict()


@dataclass(frozen=True)
class Pages:
    """Where a paged list is: page (1-based), pages, total rows."""

    page: int
    pages: int
    total: int

    @classmethod
    def of(cls, page: int, total: int) -> Pages:
        pages = max(1, math.ceil(total / PAGE_SIZE))
        return cls(min(page, pages), pages, total)

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE


def known_run(store: ResultStore, run_id: str) -> Any:
    info = store.run(run_id)
    if info is None:
        known = ", ".join(r.run_id for r in store.runs()[:10]) or "(none)"
        raise NotFound(f"no run {run_id!r} in this store; the newest runs are: {known}")
    return info


def results_view(store: ResultStore, run_id: str) -> tuple[Report, dict[str, Any]]:
    """The report of a run and its plots, as report.html shows them; kept while the run's
    stored trials do not change."""
    info = known_run(store, run_id)
    key = (store.location, run_id, info.status, info.stored_trials)
    if key in _reports:
        _reports.move_to_end(key)
        return _reports[key]
    from pytest_crucible.review.reports._content import build_report
    from pytest_crucible.review.reports._report_data import load_run
    from pytest_crucible.review.reports.html import report_plots

    report = build_report(load_run(store, run_id, save_analysis=False))
    _reports[key] = (report, report_plots(report))
    while len(_reports) > _REPORTS_KEPT:
        _reports.popitem(last=False)
    return _reports[key]


def trials_listing(
    store: ResultStore, run_id: str, page: int, condition: str | None, status: str | None
) -> tuple[list[dict[str, Any]], Pages]:
    """One page of the run's trials (no outputs), filtered by condition and status."""
    total = store.trial_page(run_id, limit=1, condition=condition, status=status).total
    pages = Pages.of(page, total)
    rows = store.trial_page(
        run_id, offset=pages.offset, limit=PAGE_SIZE, condition=condition, status=status
    ).rows
    return rows, pages


def trial_view(store: ResultStore, run_id: str, trial_key: str) -> dict[str, Any]:
    """One trial, every stored column, its item and logs, with artifacts ready to show."""
    known_run(store, run_id)
    detail = store.trial_detail(run_id, trial_key)
    if detail is None:
        raise NotFound(
            f"run {run_id} has no trial {trial_key!r}: pick one from /runs/{run_id}/results"
        )
    stored = {trial_key: list(detail.get("artifacts") or [])}
    shown = page_artifacts([trial_key], stored).get("0", [])
    item = detail.get("item") or {}
    return {
        **detail,
        "artifact_entries": [_artifact_entry(entry) for entry in shown],
        "texts": {
            "input": pretty(item.get("input")),
            "expected": pretty(item.get("expected")),
            "metadata": pretty(item.get("metadata") or None),
            "output": pretty(detail.get("output")),
            "results": pretty(detail.get("results")),
        },
        "error": _error(detail.get("error")),
    }


def _artifact_entry(entry: list[Any]) -> dict[str, Any]:
    name, kind, content, size = entry[:4]
    return {"name": name, "kind": kind, "text": content if kind == "text" else None, "size": size}


def _error(raw: Any) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        return {"type": "Error", "message": str(raw), "where": "", "traceback": ""}
    return {
        "type": str(raw.get("type") or "Error"),
        "message": str(raw.get("message") or ""),
        "where": str(raw.get("where") or ""),
        "traceback": str(raw.get("traceback") or ""),
    }


def artifact_of(store: ResultStore, run_id: str, trial_key: str, name: str) -> dict[str, Any]:
    """The stored artifact `{name, encoding, data}` of a trial, by its name."""
    known_run(store, run_id)
    detail = store.trial_detail(run_id, trial_key)
    if detail is None:
        raise NotFound(f"run {run_id} has no trial {trial_key!r}")
    for entry in detail.get("artifacts") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    names = ", ".join(repr(e.get("name")) for e in detail.get("artifacts") or []) or "none"
    raise NotFound(f"trial {trial_key} has no artifact {name!r}; its artifacts: {names}")


def side_by_side_view(
    store: ResultStore, run_id: str, a: str | None, b: str | None, page: int
) -> dict[str, Any]:
    """Condition a's trials (item, repeat order) a page at a time, each beside condition b's
    trial of the same item and repeat."""
    info = known_run(store, run_id)
    conditions = [str(c) for c in store.run_header(run_id).get("conditions") or []]
    a, b = _pair(conditions, a, b, info.run_id)
    total = store.trial_page(run_id, limit=1, condition=a).total
    pages = Pages.of(page, total)
    left = store.trial_page(run_id, offset=pages.offset, limit=PAGE_SIZE, condition=a).rows
    rows = [(_shown(store, run_id, row), _partner(store, run_id, b, row)) for row in left]
    return {"conditions": conditions, "a": a, "b": b, "rows": rows, "pages": pages}


def _pair(conditions: list[str], a: str | None, b: str | None, run_id: str) -> tuple[str, str]:
    if len(conditions) < 2:
        raise NotFound(f"run {run_id} has fewer than two conditions: nothing to put side by side")
    a = a or conditions[0]
    b = b or next(c for c in conditions if c != a)
    for name in (a, b):
        if name not in conditions:
            raise NotFound(
                f"run {run_id} has no condition {name!r}; its conditions: {', '.join(conditions)}"
            )
    return a, b


def _partner(
    store: ResultStore, run_id: str, condition: str, row: dict[str, Any]
) -> dict[str, Any] | None:
    item = str(row["item_id"])
    page = store.trial_page(run_id, limit=_REPEATS_READ, condition=condition, item=item)
    same = [r for r in page.rows if str(r["item_id"]) == item]
    match = next((r for r in same if r["repeat"] == row["repeat"]), None)
    return None if match is None else _shown(store, run_id, match)


def _shown(store: ResultStore, run_id: str, row: dict[str, Any]) -> dict[str, Any]:
    detail = store.trial_detail(run_id, str(row["trial_key"])) or {}
    return {
        "trial_key": str(row["trial_key"]),
        "item_id": str(row["item_id"]),
        "repeat": row["repeat"],
        "status": row["status"],
        "metrics": detail.get("metrics") or row.get("metrics") or {},
        "output": pretty(detail.get("output")),
        "input": pretty((detail.get("item") or {}).get("input")),
        "expected": pretty((detail.get("item") or {}).get("expected")),
        "error": _error(detail.get("error")),
    }


def compare_view(
    store: ResultStore,
    run_a: str,
    run_b: str,
    margins: dict[str, float],
    alpha: float | None,
    strict: bool,
) -> tuple[BaselineComparison, str]:
    """Run b against run a as `crucible compare` decides it, and its title line."""
    from pytest_crucible.review.compare_runs import compare_runs
    from pytest_crucible.review.gates import format_text

    known_run(store, run_a)
    known_run(store, run_b)
    comparison = compare_runs(store, run_a, run_b, margins=margins, alpha=alpha, strict=strict)
    return comparison, format_text([], comparison).splitlines()[0]


def pretty(value: Any) -> str | None:
    """A stored value as text: a string as it is, anything else as indented JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=repr)
