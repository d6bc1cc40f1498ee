"""The places the session reaches into pytest (and xdist) beyond their public API (both roles).

Each one is a small function here, so that what a pytest upgrade may break is found in one
file. The capture is the exception: its two places stay with the streams they install
(`output.RoutedPhases._route_the_capture_files`, `stdio.install_below_capture`).

The attributes the session puts on reports (`crucible`, `crucible_alone`, `crucible_crash`,
`crucible_skipped`)
are its own: pytest keeps unknown report attributes, and xdist sends them to the controller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.util.names import TRIAL_PARAM

if TYPE_CHECKING:
    from pytest_crucible.session.items import TrialSlot

__all__ = [
    "argument_names",
    "attach_result",
    "end_row",
    "filter_log_capture",
    "fixture_info",
    "give_trial_arguments",
    "is_crash_report",
    "is_rerun",
    "line_is_open",
    "mark_ran_alone",
    "mark_skipped_trial",
    "ran_alone",
    "requesting_item",
    "result_of",
    "row_is_complete",
    "show_as_crash",
    "skipped_trial",
    "swap_terminal_file",
    "terminal_file",
    "terminal_width_and_markup",
    "worker_popen",
]


def give_trial_arguments(item: pytest.Item, names: Sequence[str], slot: TrialSlot) -> None:
    """Put the values of the plugin's own fixtures into the item's funcargs before pytest
    sets up fixtures: pytest sets up only the arguments missing there (~0.15 ms a trial)."""
    funcargs = item.funcargs  # type: ignore[attr-defined]
    active = slot.running
    for name in names:
        funcargs[name] = slot if name == TRIAL_PARAM else getattr(active, name)


def fixture_info(item: pytest.Item) -> Any | None:
    """pytest's private record of the fixtures an item uses (`argnames`, `names_closure`,
    `name2fixturedefs`); None for an item that is not a function."""
    return getattr(item, "_fixtureinfo", None)


def requesting_item(request: pytest.FixtureRequest) -> pytest.Item | None:
    """The test item a fixture is being set up for (whatever the fixture's scope)."""
    item: pytest.Item | None = getattr(request, "_pyfuncitem", None)
    return item


def argument_names(item: pytest.Function) -> tuple[str, ...]:
    """The arguments the item's function takes."""
    names: tuple[str, ...] = item._fixtureinfo.argnames
    return names


def attach_result(report: pytest.TestReport, payload: dict[str, Any]) -> None:
    """The trial's result rides on its report to the controller (the data path)."""
    report.crucible = payload  # type: ignore[attr-defined]


def result_of(report: pytest.TestReport) -> dict[str, Any] | None:
    payload: dict[str, Any] | None = getattr(report, "crucible", None)
    return payload


def mark_ran_alone(report: pytest.TestReport) -> None:
    """The trial ran with no other in flight (after a crash: crashes.py)."""
    report.crucible_alone = True  # type: ignore[attr-defined]


def ran_alone(report: pytest.TestReport) -> bool:
    return bool(getattr(report, "crucible_alone", False))


def is_rerun(report: pytest.TestReport) -> bool:
    """An attempt pytest-rerunfailures runs again (its outcome is "rerun", not pytest's)."""
    outcome: str = report.outcome
    return outcome == "rerun"


def show_as_crash(report: pytest.TestReport) -> None:
    """xdist's report of the item a worker died running becomes a rerun, not a failure:
    the trial's own report follows (crashes.py)."""
    report.outcome = "rerun"  # type: ignore[assignment]
    report.crucible_crash = True  # type: ignore[attr-defined]


def is_crash_report(report: pytest.TestReport) -> bool:
    return bool(getattr(report, "crucible_crash", False))


def line_is_open(reporter: Any) -> bool:
    """Whether the terminal's current line has text (a row of dots: xdist ends it with no
    newline), read from the terminal reporter's private writer."""
    return bool(reporter._tw.width_of_current_line)


def row_is_complete(reporter: Any) -> bool:
    """Whether pytest finished its current row: nothing written on it yet, or it ends with
    the progress percentage, which pytest right-aligns to the full width."""
    writer = reporter._tw
    return not line_is_open(reporter) or writer.width_of_current_line >= writer.fullwidth - 1


def end_row(reporter: Any) -> None:
    """End pytest's current row so that a line can follow (`write_line` ends it only when
    the reporter knows a file path is open on it; xdist's rows of dots have none)."""
    if line_is_open(reporter) and not reporter.currentfspath:
        reporter.write("\n")


def worker_popen(node: Any) -> Any | None:
    """The process of an xdist worker (its execnet gateway's private I/O), or None."""
    return getattr(getattr(getattr(node, "gateway", None), "_io", None), "popen", None)


def filter_log_capture(config: pytest.Config, log_filter: logging.Filter) -> None:
    """Add `log_filter` to the handlers through which pytest's logging plugin captures
    records for `caplog` and for reports (private attributes of that plugin)."""
    logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
    for name in ("caplog_handler", "report_handler"):
        handler = getattr(logging_plugin, name, None)
        if isinstance(handler, logging.Handler):
            handler.addFilter(log_filter)


def terminal_file(reporter: Any) -> Any:
    """The file pytest's terminal reporter writes to (its writer's private `_file`)."""
    return reporter._tw._file


def saved_terminal_fd(config: pytest.Config) -> int | None:
    """The descriptor of the terminal that pytest's fd capture saved before pointing fd 1 at
    its temporary file (None without fd capture)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    out = getattr(getattr(capture, "_global_capturing", None), "out", None)
    saved = getattr(out, "targetfd_save", None)
    return saved if isinstance(saved, int) and getattr(out, "targetfd", None) == 1 else None


def terminal_width_and_markup(reporter: Any) -> tuple[int, bool]:
    """The width pytest's terminal writer fills, and whether it writes colours."""
    writer = reporter._tw
    return int(writer.fullwidth), bool(writer.hasmarkup)


def swap_terminal_file(reporter: Any, file: Any) -> None:
    """Make pytest's terminal reporter write to `file` (the live display's line proxy)."""
    reporter._tw._file = file


def mark_skipped_trial(report: pytest.TestReport, experiment: str, condition: str) -> None:
    """A trial skipped before it ran: the progress display counts it (worker.py)."""
    report.crucible_skipped = (experiment, condition)  # type: ignore[attr-defined]


def skipped_trial(report: pytest.TestReport) -> tuple[str, str] | None:
    found = getattr(report, "crucible_skipped", None)
    return (str(found[0]), str(found[1])) if found else None
