"""The progress display of a run (controller role): which kind, when it starts and stops.

`--crucible-display` (like inspect-ai's `--display`):
- `rich`: a live table on the terminal (live.py), below pytest's own output;
- `plain`: lines at every tenth of the trials (and at least once a minute while trials
  finish), written only between pytest's rows, never inside a row of dots;
- `none`: nothing while trials run;
- `auto` (the default): `rich` on a terminal, `plain` otherwise, `none` under `-qq`. When
  another plugin replaced pytest's terminal reporter (pytest-sugar draws its own progress
  bar by moving the cursor over its lines), nothing is drawn into its output; under
  pytest-rich (`--rich`) the lines go through its console, above its progress bars.

What the workers collect and run comes from their beacons (beacon.py) or, without xdist,
from the local worker (`watch_local`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Generator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from pytest_crucible.session.beacon import INTERVAL_S, read_beacons
from pytest_crucible.session.internals import end_row, row_is_complete
from pytest_crucible.session.progress import LineSchedule, Tally, WorkerView, plain_lines

__all__ = ["DISPLAY_MODES", "PYTEST_RICH", "ProgressDisplay"]

DISPLAY_MODES = ("auto", "rich", "plain", "none")
PYTEST_RICH = "rich-terminal-reporter"  # pytest-rich's reporter, when `--rich` is on a tty
_ROW_WAIT_S = 60.0  # how long due lines wait for pytest to finish its row of dots


class ProgressDisplay:
    def __init__(self, config: pytest.Config, tally: Tally) -> None:
        self.config = config
        self.tally = tally
        self._mode: str | None = None
        self.folder: Path | None = None  # where xdist workers keep their beacons
        self._local: Callable[[], dict[str, Any]] | None = None
        self._read_at = 0.0
        self._schedule = LineSchedule()
        self._pending: float | None = None  # since when lines are due
        self._live: Any = None  # a live.LiveView while it is shown
        self._stopped = False

    @property
    def mode(self) -> str:
        """Decided once every plugin is configured (pytest-sugar and pytest-rich replace
        the terminal reporter in their pytest_configure)."""
        if self._mode is None:
            self._mode = _mode(self.config)
        return self._mode

    def beacon_folder(self) -> Path | None:
        """The folder xdist workers write their beacons to (None: nothing is displayed)."""
        if self.folder is None and self.mode != "none":
            self.folder = Path(tempfile.mkdtemp(prefix="crucible-progress-"))
        return self.folder

    def watch_local(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        """Without xdist: the local worker's snapshot (beacon.py's format)."""
        self._local = snapshot

    def views(self) -> list[Any]:
        self._read_workers()
        return self.tally.views()

    def _read_workers(self, force: bool = False) -> None:
        if self._stopped:  # settled: a beacon written before the end would undo that
            return
        now = time.monotonic()
        if not force and now - self._read_at < INTERVAL_S / 2:
            return
        self._read_at = now
        with suppress(RuntimeError):  # the local worker changed its state as it was read
            if self._local is not None:
                self.tally.see(WorkerView.merged([self._local()]))
            elif self.folder is not None:
                self.tally.see(WorkerView.merged(read_beacons(self.folder)))

    # -- while trials run -------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self) -> None:
        """The live table starts with the first test of a session that has trials to run."""
        self.tally.begin()
        if self.mode != "rich" or self._live is not None or self._stopped:
            return
        self._read_workers()
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if not self.tally.total or reporter is None:
            return
        from pytest_crucible.session.live import LiveView

        self._live = LiveView(reporter, self.views)
        self._live.start()

    def recorded(self) -> None:
        """A trial was stored or skipped: plain lines when due."""
        if self.mode != "plain":
            return
        self._read_workers()
        if self._schedule.due(self.tally.finished, self.tally.total) and self._pending is None:
            self._pending = time.monotonic()

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self) -> None:
        """After pytest wrote a test's outcome: the due lines, once its row is complete
        (with -v, a row per test; else a row of dots ends with its percentage), or, when a
        row of slow trials stays open for `_ROW_WAIT_S`, on the next line."""
        if self._pending is None:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        complete = reporter is None or row_is_complete(reporter)
        waited = time.monotonic() - self._pending
        if not complete and self.config.get_verbosity() <= 0 and waited < _ROW_WAIT_S:
            return
        self._pending = None
        self._write_lines(reporter)

    def _write_lines(self, reporter: Any) -> None:
        self._read_workers(force=True)
        if reporter is not None:
            end_row(reporter)
        lines = plain_lines(self.tally.views())
        rich = self.config.pluginmanager.get_plugin(PYTEST_RICH)
        if reporter is None and rich is not None:
            for line in lines:
                rich.console.print(line, markup=False, highlight=False, soft_wrap=True)
        elif reporter is not None:
            for line in lines:
                reporter.write_line(line)

    # -- the end ----------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self) -> Generator[None, None, None]:
        self.stop()
        return (yield)

    def pytest_keyboard_interrupt(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the live region away (its last state stays as plain lines)."""
        if not self._stopped:  # the tests have ended: the counts are final
            self._read_workers(force=True)
            self.tally.settle()
            self._stopped = True
        live, self._live = self._live, None
        if live is not None:
            live.stop()
            self._write_lines(self.config.pluginmanager.get_plugin("terminalreporter"))
        elif self._pending is not None:
            self._pending = None
            self._write_lines(self.config.pluginmanager.get_plugin("terminalreporter"))

    def forget_worker(self, worker_id: str) -> None:
        """A worker is down: what it had in flight is not running any more."""
        if self.folder is not None:
            (self.folder / f"{worker_id}.json").unlink(missing_ok=True)

    def pytest_unconfigure(self) -> None:
        self.stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _mode(config: pytest.Config) -> str:
    """The display this session gets (see the module's doc)."""
    chosen = str(config.getoption("crucible_display") or "auto")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:  # pytest-rich, or `-p no:terminal`
        rich = config.pluginmanager.get_plugin(PYTEST_RICH)
        return "plain" if rich is not None and chosen != "none" else "none"
    if chosen != "auto":
        return chosen
    if config.get_verbosity() <= -2 or type(reporter) is not pytest.TerminalReporter:
        return "none"
    on_terminal = reporter.isatty() and os.environ.get("TERM") != "dumb"
    captured = config.getoption("capture") != "no"  # with -s, trials print to the terminal
    return "rich" if on_terminal and captured else "plain"
