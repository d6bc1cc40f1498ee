"""`print()` of trials that run ahead of their items goes to their own report.

pytest captures output per item by pointing `sys.stdout` / `sys.stderr` at the item's
capture. A trial started ahead (prefetch.py) that prints would land in whichever item is
being captured at that moment. While a concurrent item's call phase runs, the session puts a
router in front of the capture: text written inside a concurrent trial (known from the
context, see runner.CURRENT_TRIAL) is kept for that trial and added to its own report as
"Captured stdout call"; everything else goes through. While trials started ahead are
pending, `RoutedPhases` does the same in the set-up and teardown phases of the items in
between (a trial that printed during another item's teardown landed in that item's report).
Output written at the file-descriptor level (C extensions, subprocesses) cannot be routed
this way.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Generator
from typing import Any, TextIO

import pytest

from ..runner import CURRENT_TRIAL
from ..trial import Trial

__all__ = ["OutputRouter", "RoutedPhases"]


class _Stream:
    def __init__(self, router: OutputRouter, name: str, target: TextIO) -> None:
        self._router = router
        self._name = name
        self._target = target

    def write(self, text: str) -> int:
        trial = CURRENT_TRIAL.get()
        if trial is not None and trial.concurrent:
            self._router.keep(trial, self._name, text)
            return len(text)
        return self._target.write(text)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, encoding, ...
        return getattr(self._target, name)


class OutputRouter:
    def __init__(self) -> None:
        self._kept: dict[int, dict[str, list[str]]] = {}
        self._lock = threading.Lock()
        self._saved: tuple[TextIO, TextIO] | None = None

    def install(self) -> None:
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Stream(self, "stdout", sys.stdout)
        sys.stderr = _Stream(self, "stderr", sys.stderr)

    def uninstall(self) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None

    def keep(self, trial: Trial, stream: str, text: str) -> None:
        with self._lock:
            self._kept.setdefault(id(trial), {}).setdefault(stream, []).append(text)

    def take(self, trial: Trial) -> dict[str, str]:
        """The text a trial wrote, per stream (forgotten once taken)."""
        with self._lock:
            kept = self._kept.pop(id(trial), {})
        return {stream: "".join(parts) for stream, parts in kept.items()}


class RoutedPhases:
    """A plugin: the router in front of pytest's capture in set-up and teardown too, while
    `pending()` says trials started ahead may be running. (trylast: these wrappers run
    inside the capture plugin's, so the stream they wrap is the phase's capture.)"""

    def __init__(self, router: OutputRouter, pending: Callable[[], bool]) -> None:
        self._router = router
        self._pending = pending

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
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
