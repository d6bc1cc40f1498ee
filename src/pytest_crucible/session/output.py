"""`print()` of trials that run ahead of their items goes to their own report.

pytest captures output per item by pointing `sys.stdout` / `sys.stderr` at the item's
capture while a phase runs, and back at the stream it found when capture started between
phases. A trial started ahead (prefetch.py) that prints would land in whichever item is
being captured at that moment, or on the terminal between phases. The router keeps text
written inside a concurrent trial (known from the context, see current_trial.CURRENT_TRIAL) for that
trial; it is added to the trial's own report as "Captured stdout call". Everything else goes
through. It sits at two places (_stdio.py):
- below pytest's capture, from before capture starts to the end of the run: the stream
  capture puts back between phases is routed, so a print between phases is kept;
- in front of the capture of each phase while trials started ahead may run (`RoutedPhases`),
  and in the call phase of a concurrent item (the session installs it there).
Output written at the file-descriptor level (C extensions, subprocesses) cannot be routed
this way.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Generator
from typing import TextIO

import pytest

from pytest_crucible.run.current_trial import CURRENT_TRIAL
from pytest_crucible.run.trial import Trial
from pytest_crucible.session.stdio import BOTTOM_KEY, RoutedStream

__all__ = ["OutputRouter", "RoutedPhases"]


class OutputRouter:
    def __init__(self) -> None:
        self._kept: dict[int, dict[str, list[str]]] = {}
        self._lock = threading.Lock()
        # what install() replaced and what it put there, innermost last
        self._saved: list[tuple[TextIO, TextIO, TextIO, TextIO]] = []
        self._wrappers: dict[str, RoutedStream] = {}

    def route(self, stream: str, text: str) -> bool:
        """Keep `text` when a concurrent trial wrote it; False: write it through."""
        trial = CURRENT_TRIAL.get()
        if trial is None or not trial.concurrent:
            return False
        self.keep(trial, stream, text)
        return True

    def install(self) -> None:
        """Route the current sys.stdout / sys.stderr (nests; undo with uninstall())."""
        out, err = sys.stdout, sys.stderr
        routed_out, routed_err = self._wrap("stdout", out), self._wrap("stderr", err)
        self._saved.append((out, err, routed_out, routed_err))  # type: ignore[arg-type]
        sys.stdout, sys.stderr = routed_out, routed_err

    def uninstall(self) -> None:
        if not self._saved:
            return
        out, err, routed_out, routed_err = self._saved.pop()
        # a stream replaced since (capsys, the test itself) is theirs to put back
        if sys.stdout is routed_out:
            sys.stdout = out
        if sys.stderr is routed_err:
            sys.stderr = err

    def _wrap(self, name: str, target: TextIO) -> RoutedStream:
        if isinstance(target, RoutedStream) and target.route == self.route:
            return target
        # the capture file is the same object for every phase: wrap it once
        wrapper = self._wrappers.get(name)
        if wrapper is None or wrapper.target is not target:
            wrapper = self._wrappers[name] = RoutedStream(name, target, self.route)
        return wrapper

    def keep(self, trial: Trial, stream: str, text: str) -> None:
        with self._lock:
            self._kept.setdefault(id(trial), {}).setdefault(stream, []).append(text)

    def take(self, trial: Trial) -> dict[str, str]:
        """The text a trial wrote, per stream (forgotten once taken)."""
        with self._lock:
            kept = self._kept.pop(id(trial), {})
        return {stream: "".join(parts) for stream, parts in kept.items()}


class RoutedPhases:
    """A plugin: the router below pytest's capture for the whole session, and in front of
    it in each phase while `pending()` says trials started ahead may be running. (trylast:
    these wrappers run inside the capture plugin's, so the stream they wrap is the phase's
    capture.)"""

    def __init__(self, router: OutputRouter, pending: Callable[[], bool]) -> None:
        self._router = router
        self._pending = pending

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        bottom = session.config.stash.get(BOTTOM_KEY, None)
        if bottom is not None:  # installed by the plugin before capture started
            bottom.set_route(self._router.route)
        self._route_the_capture_files(session.config)

    def _route_the_capture_files(self, config: pytest.Config) -> None:
        """Make the stream pytest's fd capture puts in sys.stdout at each phase's start a
        routed one. Wrapping it after the phase started (`_routed`) leaves a window in which
        a trial running ahead writes into the phase's capture: on a busy machine the loop
        thread got the GIL right there and a failing trial's print went to another item.
        (pytest's fd capture writes sys-level text through `syscapture.tmpfile`; its
        `--capture=sys` mode checks that file's type, so it is left as it is.)"""
        capman = config.pluginmanager.getplugin("capturemanager")
        capturing = getattr(capman, "_global_capturing", None)
        for name in ("out", "err"):
            syscapture = getattr(getattr(capturing, name, None), "syscapture", None)
            tmpfile = getattr(syscapture, "tmpfile", None)
            if tmpfile is not None and not isinstance(tmpfile, RoutedStream):
                syscapture.tmpfile = RoutedStream(f"std{name}", tmpfile, self._router.route)  # type: ignore[union-attr]

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        bottom = config.stash.get(BOTTOM_KEY, None)
        if bottom is not None:
            bottom.set_route(None)

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._routed())

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._routed())

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._routed())

    def _routed(self) -> Generator[None, None, None]:
        routing = self._pending()
        if routing:
            self._router.install()
        try:
            return (yield)
        finally:
            if routing:
                self._router.uninstall()
