"""The session end on the controller: what the analysis child is asked to do, its gates,
and the results section of the terminal summary (through pytest-rich's console too).

The heavy work (analysis, gates, reports) runs in a child process (`review/session_end.py`);
this module turns pytest's options into that child's `ReviewRequest` (checking them before
any trial runs), the gates it decided into test reports that pytest counts and JUnit XML
lists, and the runs into the "crucible results" section.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.review.gates.decide import GateSettings, parse_margins
from pytest_crucible.review.request import ReviewRequest, ReviewStatus
from pytest_crucible.session.call_setup import cost_lines
from pytest_crucible.session.display import PYTEST_RICH
from pytest_crucible.store import ResultStore

if TYPE_CHECKING:
    from pytest_crucible.review.gates._result import GateResult
    from pytest_crucible.session.controller import Controller
    from pytest_crucible.session.guard import RunGuard
    from pytest_crucible.session.recorder import Recorder

__all__ = [
    "ConsoleSummary",
    "SummaryElsewhere",
    "exit_status",
    "report_gates",
    "review_request",
    "write_results",
]
_SHOWN_WARNINGS = 10


def review_request(config: pytest.Config, store: ResultStore, location: str) -> ReviewRequest:
    """What the analysis child is asked for this session (the runs are added at its end);
    `location`: the store's, unmasked (the child opens it; the request goes on its stdin,
    never its command line); bad values raise CrucibleError."""
    option = config.getoption
    margins = parse_margins(option("crucible_margin"))
    baselines = config.rootpath / ".crucible" / "baselines"
    if option("crucible_compare"):
        from pytest_crucible.review.gates import check_reference

        check_reference(
            store,
            option("crucible_compare"),
            save_as=option("crucible_save_baseline"),
            baselines_dir=baselines,
        )
    gating = GateSettings(
        gates=tuple(option("crucible_gate")),
        compare=option("crucible_compare") or None,
        margins=margins,
        strict=bool(option("crucible_gate_strict")),
        save_baseline=option("crucible_save_baseline") or None,
        baselines_dir=baselines,
    )
    summary = option("crucible_gate_summary")
    reports, formats = _reports(config)
    return ReviewRequest(
        location,
        side_folder=store.side_folder,
        gating=gating,
        reports=reports,
        formats=formats,
        gate_summary=Path(summary) if summary else None,
    )


def _reports(config: pytest.Config) -> tuple[Path | None, tuple[str, ...]]:
    """Where the reports go and in which formats (checked), or (None, ()) for none."""
    formats = config.getoption("crucible_report")
    if formats.strip().lower() == "none":
        return None, ()
    from pytest_crucible.review.reports import parse_formats

    chosen = tuple(parse_formats(formats))
    output = Path(config.getoption("crucible_output"))  # absolute (plugin settings)
    if not output.is_absolute():
        output = config.rootpath / output
    return output, chosen


def exit_status(pytest_status: int, review_status: int, has_runs: bool) -> int:
    """The session's exit status once its runs are reviewed (0 all passed, 1 a trial or a
    gate failed, 4 a usage error such as a gate naming a metric no trial recorded, 3 the
    session-end analysis or reports failed).

    A session that resumed runs whose trials were all reused collects no item to run
    (pytest: 5, "no tests ran"), yet its runs are analysed and gated like any other.

    A failed analysis is pytest's INTERNAL_ERROR (3), also over failed trials (1): an error
    of ours, not the user's, and its gates were not decided, so neither 0 nor 1 (which CI
    reads as "a gate or a trial failed") would tell the truth. An interrupted session (2)
    keeps its status; the summary says what failed either way."""
    if review_status == ReviewStatus.USAGE_ERROR:
        return int(pytest.ExitCode.USAGE_ERROR)
    if review_status == ReviewStatus.INTERRUPTED:
        return int(pytest.ExitCode.INTERRUPTED)
    status = pytest_status
    if status == pytest.ExitCode.NO_TESTS_COLLECTED and has_runs:
        status = pytest.ExitCode.OK
    if review_status == ReviewStatus.INTERNAL_ERROR and status in _DECIDED:
        return int(pytest.ExitCode.INTERNAL_ERROR)
    if review_status == ReviewStatus.GATE_FAILED and status == pytest.ExitCode.OK:
        status = pytest.ExitCode.TESTS_FAILED
    return int(status)


_DECIDED = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)


def report_gates(config: pytest.Config, gates: Sequence[tuple[str, GateResult]]) -> None:
    """Each gate as a test's reports (set-up, call, teardown): counted in the summary line,
    listed by JUnit XML, and a row of pytest-html's table (which takes a test at its
    teardown report)."""
    for experiment, gate in gates:
        name = gate.name
        failure = None if gate.passed else gate.line()
        for when in ("setup", "call", "teardown"):
            called = when == "call"
            report = pytest.TestReport(
                nodeid=f"crucible::gates::{experiment}::{name}",
                location=("crucible", None, f"gate {name}"),
                keywords={},
                outcome="passed" if gate.passed or not called else "failed",
                longrepr=failure if called else None,
                when=when,
                sections=[("gate", gate.warning)] if called and gate.warning else [],
            )
            config.hook.pytest_runtest_logreport(report=report)


def write_results(
    reporter: Any, recorder: Recorder, store: ResultStore, guard: RunGuard | None
) -> None:
    """Each run's table and analysis, why the run stopped, errors, warnings, where it is."""
    reporter.section("crucible results")
    for outcome in recorder.runs.values():
        reporter.write_line(recorder.summary(outcome))
        for line in cost_lines(store, outcome.run_id):
            reporter.write_line(line)
        if guard is not None:
            for line in guard.summary_lines(outcome.experiment, outcome.run_id):
                reporter.write_line(line)
        reporter.write_line("")
    for reason in guard.stopped.values() if guard is not None else []:
        if "--crucible-resume" not in reason:
            reason += "; the run is marked interrupted: continue it with --crucible-resume"
        reporter.write_line(f"stopped: {reason}", red=True)
    for message in guard.errors if guard is not None else []:
        reporter.write_line(f"error: {message}", red=True)
    for error in recorder.errors:
        reporter.write_line(f"error: {error}", red=True)
    for warning in recorder.warnings[:_SHOWN_WARNINGS]:
        reporter.write_line(f"warning: {warning}", yellow=True)
    if len(recorder.warnings) > _SHOWN_WARNINGS:
        reporter.write_line(f"... and {len(recorder.warnings) - _SHOWN_WARNINGS} more")
    ids = ", ".join(o.run_id for o in recorder.runs.values())
    # a joined run is continued by joining it again (its key names it)
    again = "--crucible-resume" if recorder.joined is None else "the same --crucible-join"
    reporter.write_line(
        f"results stored in {store.location} (runs {ids}); load them with "
        f"pytest_crucible.load_trials(RUN_ID, store=...); continue an interrupted run "
        f"with {again}"
    )


class ConsoleSummary:
    """The terminal reporter's writing methods (`section`, `write_line`, `write`) over a
    rich console: the results reach the terminal when pytest-rich replaced pytest's
    reporter, whose summary hooks it never calls."""

    def __init__(self, console: Any) -> None:
        self._console = console

    def section(self, title: str, sep: str = "=", **markup: bool) -> None:
        self._console.rule(title, style=_style(markup))

    def write_line(self, line: str, **markup: bool) -> None:
        from rich.text import Text

        self._console.print(Text(line, style=_style(markup)), soft_wrap=True)

    def write(self, text: str, **markup: bool) -> None:
        from rich.text import Text

        self._console.print(Text(text, style=_style(markup)), end="", soft_wrap=True)


class SummaryElsewhere:
    """The results when pytest-rich (`--rich` on a terminal) replaced pytest's terminal
    reporter: printed through its console, after its own summary."""

    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        plugins = self._controller.config.pluginmanager
        rich = plugins.get_plugin(PYTEST_RICH)
        if plugins.get_plugin("terminalreporter") is None and rich is not None:
            self._controller.pytest_terminal_summary(ConsoleSummary(rich.console))


def _style(markup: dict[str, bool]) -> str:
    """pytest's markup keywords (red=True, bold=True) as a rich style."""
    return " ".join(name for name, on in markup.items() if on)
