"""The live progress display on a terminal, drawn with rich below pytest's own output.

While it is shown, pytest's terminal writer writes through `LineProxy`: each line pytest
completes is printed above the live region (rich keeps the region at the bottom), and the
line pytest has not finished yet (a row of dots) is held until it is, so pytest's rows and
percentages stay whole. At the end the region goes away, the held part of a row is written
where it belongs, and pytest's writer gets its file back.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pytest
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from pytest_crucible.session.internals import (
    saved_terminal_fd,
    swap_terminal_file,
    terminal_file,
    terminal_width_and_markup,
)
from pytest_crucible.session.progress import (
    ConditionView,
    ExperimentView,
    clock_time,
)
from pytest_crucible.session.stdio import unrouted

if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["LiveView"]

_REFRESH_PER_S = 4
_RUNNING_SHOWN = 3  # in-flight trials with progress shown per condition
_BAR_WIDTH = 12


class LineProxy(io.TextIOBase):
    """A file for pytest's terminal writer that prints whole lines through rich."""

    def __init__(self, console: Console, real: TextIO) -> None:
        self._console = console
        self._real = real
        self._held: list[str] = []
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._real, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            *complete, rest = text.split("\n")
            lines = []
            for part in complete:
                lines.append("".join([*self._held, part]))
                self._held.clear()
            self._held.append(rest)
        for line in lines:
            shown = line.rsplit("\r", 1)[-1]  # what a terminal shows of a rewritten line
            self._console.print(Text.from_ansi(shown), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        return None

    def held(self) -> str:
        with self._lock:
            text = "".join(self._held)
            self._held.clear()
        return text


def _terminal_beside_capture(config: pytest.Config, stream: Any) -> tuple[Any, bool]:
    """A stream on the terminal `stream` writes to, that reaches it also while a test runs:
    (the stream, whether the caller must close it). pytest's fd capture points fd 1 at a
    temporary file during each test, so the refresh thread, which draws while trials run,
    writes to a copy of the descriptor capture saved; else below our routing."""
    stream = unrouted(stream)
    saved = saved_terminal_fd(config)
    if saved is None:
        return stream, False
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return open(os.dup(saved), "w", encoding=encoding, errors="replace"), True


class LiveView:
    """The live region: what `views()` returns, redrawn a few times a second."""

    def __init__(self, reporter: Any, views: Callable[[], Sequence[ExperimentView]]) -> None:
        self._reporter = reporter
        self._views = views
        width, colours = terminal_width_and_markup(reporter)
        self._real: TextIO = terminal_file(reporter)
        drawn_on, self._close_drawn_on = _terminal_beside_capture(reporter.config, self._real)
        self.console = Console(
            file=drawn_on,
            force_terminal=True,
            width=width,
            color_system="auto" if colours else None,
        )
        self._proxy = LineProxy(self.console, self._real)
        self._live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=_REFRESH_PER_S,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def start(self) -> None:
        swap_terminal_file(self._reporter, self._proxy)
        self._live.start()

    def stop(self) -> None:
        try:
            self._live.stop()
        finally:
            self.console.file.flush()
            if self._close_drawn_on:
                self.console.file.close()
            swap_terminal_file(self._reporter, self._real)
            held = self._proxy.held()
            if held:
                self._real.write(held)
                self._real.flush()

    def _render(self) -> RenderableType:
        try:
            return render(self._views())
        except Exception as exc:  # never let a drawing problem reach pytest
            return Text(f"crucible: progress display failed: {exc}")


def render(views: Sequence[ExperimentView]) -> RenderableType:
    table = Table(box=None, padding=(0, 2, 0, 0), show_edge=False, pad_edge=False)
    for name, justify in _COLUMNS:
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    running = Table.grid(padding=(0, 2, 0, 0))
    for view in views:
        _add_experiment(table, view)
        for condition in view.conditions:
            _add_running(running, condition)
    return Group(table, running) if running.row_count else table


_COLUMNS = (
    ("crucible", "left"),
    ("", "left"),
    ("done", "right"),
    ("failed", "right"),
    ("in flight", "right"),
    ("rate", "right"),
    ("elapsed", "right"),
    ("ETA", "right"),
    ("tokens", "right"),
    ("cost", "right"),
)


def _add_experiment(table: Table, view: ExperimentView) -> None:
    total = view.total
    done = view.sum("done")
    table.add_row(
        Text(view.name, style="bold"),
        _bar(done + view.sum("skipped"), total),
        _of(done, total),
        _failed(view.sum("failed")),
        str(view.sum("in_flight")),
        f"{view.rate:.3g}/s" if view.rate else "",
        clock_time(view.elapsed),
        clock_time(view.eta) if view.eta is not None else "",
        f"{view.sum('tokens'):,}" if view.sum("tokens") else "",
        f"${view.cost:.4f}" if view.cost is not None else "",
    )
    if len(view.conditions) > 1:
        for condition in view.conditions:
            _add_condition(table, condition)


def _add_condition(table: Table, condition: ConditionView) -> None:
    table.add_row(
        f"  {condition.name}",
        _bar(condition.done + condition.skipped, condition.total),
        _of(condition.done, condition.total),
        _failed(condition.failed),
        str(condition.in_flight),
        "",
        "",
        "",
        f"{condition.tokens:,}" if condition.tokens else "",
        f"${condition.cost:.4f}" if condition.cost is not None else "",
    )


def _add_running(grid: Table, condition: ConditionView) -> None:
    """The in-flight trials of `condition` that said how far they are (trial.progress)."""
    for running in condition.running[:_RUNNING_SHOWN]:
        assert running.progress is not None
        current, total, message = running.progress
        grid.add_row(
            Text(f"  ↳ {running.name}", style="dim"),
            ProgressBar(total=max(total, 1e-9), completed=min(current, total), width=_BAR_WIDTH),
            Text(f"{current:g}/{total:g}" + (f" {message[:60]}" if message else ""), style="dim"),
        )
    more = len(condition.running) - _RUNNING_SHOWN
    if more > 0:
        grid.add_row(Text(f"  … {more} more of {condition.name}", style="dim"))


def _bar(completed: int, total: int | None) -> RenderableType:
    if not total:
        return ""
    return ProgressBar(total=total, completed=completed, width=_BAR_WIDTH)


def _of(done: int, total: int | None) -> str:
    return f"{done}/{total}" if total is not None else str(done)


def _failed(count: int) -> Text:
    return Text(str(count), style="red" if count else "")
