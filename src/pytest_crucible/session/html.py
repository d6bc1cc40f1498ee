"""pytest-html integration: trial columns, per-trial extras, the analysis in the summary.

Registered on the controller when pytest-html is active (`--html=...`). It reads the trial
record each report carries, so it works the same under pytest-xdist. pytest-html writes its
file once at session end (unless its `generate_report_on_test` ini option asks otherwise), so
20,000 trials cost 20,000 rows, not 20,000 renderings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

import pytest

from pytest_crucible.session.internals import result_of
from pytest_crucible.store.records import TrialRecord

__all__ = ["HtmlHooks"]

_MAX_TEXT = 4000


class HtmlHooks:
    def __init__(self, summary: Callable[[], str]) -> None:
        self._summary = summary  # the session-end results text

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = result_of(report)
        if payload is None:
            return
        from pytest_html import extras

        report.extras = [*getattr(report, "extras", []), extras.html(_trial_details(payload))]  # type: ignore[attr-defined]

    # pytest-html asks for the header before any experiment is known, so the metrics share
    # one column ("correct=1 latency_s=0.21"), in the experiment's declared order.

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        names = ["condition", "item", "repeat", "metrics"]
        cells[2:2] = [f'<th class="sortable">{name}</th>' for name in names]

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        payload = result_of(report)
        record = TrialRecord.from_json(payload["trial"]) if payload else None
        metrics = record.metrics if record else {}
        shown = " ".join(f"{name}={_short(value)}" for name, value in metrics.items())
        values = [record.condition, record.item_id, record.repeat] if record else ["", "", ""]
        cells[2:2] = [f"<td>{escape(str(value))}</td>" for value in [*values, shown]]

    def pytest_html_results_summary(
        self, prefix: list[str], summary: list[str], postfix: list[str], session: Any
    ) -> None:
        text = self._summary()
        if text:
            postfix.append(f"<h2>crucible results</h2><pre>{escape(text)}</pre>")


def _trial_details(payload: dict[str, Any]) -> str:
    """Input, expected, output, logs and error of one trial, escaped: all of it is untrusted."""
    record = TrialRecord.from_json(payload["trial"])
    item = record.item or {}
    sections = [
        ("input", item.get("input")),
        ("expected", item.get("expected")),
        ("output", record.output),
        ("metrics", record.metrics),
        ("logs", [f"{log['level']}: {log['message']}" for log in record.logs]),
        ("error", record.error),
    ]
    parts = [
        f"<h4>{name}</h4><pre>{escape(_text(value))}</pre>"
        for name, value in sections
        if value not in (None, [], {})
    ]
    return '<div class="crucible-trial">' + "".join(parts) + "</div>"


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, default=repr)
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + " ..."
