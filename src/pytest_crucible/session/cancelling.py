"""Cancelling a run from outside its session (issue 18): the controller's side.

`crucible cancel RUN_ID` (or the dashboard, or an MCP client) stores a request; the
controller of every session writing that run sees it within half a second
(`store/cancels.py`) and cancels gracefully:

- no new trial of the run's experiment starts: its items are skipped saying why, here and
  on every xdist worker (the guard's stop, as a tripped breaker does);
- trials already running go on: the one pytest is running finishes, and trials started
  ahead get the session end's grace of `STOP_GRACE_S` (10 s, as after Ctrl-C) before they
  are cancelled; each sees `trial.cancelled` meanwhile. Everything finished is stored;
- when every run of the session is cancelled, the session stops as after Ctrl-C (pytest's
  `shouldstop`; under xdist the controller's, which shuts the workers down), so that the
  items left are not even skipped one by one;
- the session end runs as usual (analysis, reports); the run is marked `cancelled`, the
  terminal says who cancelled and how to resume (`--crucible-resume=RUN_ID`), and the exit
  status is 2, pytest's "interrupted" (what Ctrl-C gives): the run is not complete, and CI
  must not take it for a pass nor for failing tests.

A run joined by many processes (--crucible-join) is polled by each of them: all stop.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

import pytest

from pytest_crucible.session.internals import saved_terminal_fd
from pytest_crucible.store.cancels import CancelWatch

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_crucible.session.guard import RunGuard

__all__ = ["Cancels"]


class Cancels:
    """The cancel requests of one session's runs, and what they stopped."""

    def __init__(
        self,
        config: pytest.Config,
        guard: RunGuard,
        location: str,
        side_folder: Path,
        *,
        planned: Callable[[], Collection[str]],
        joined: bool = False,
    ) -> None:
        """`planned`: the experiments this process collected (empty under xdist, whose
        controller does not collect); `joined`: the runs are joined (--crucible-join)."""
        self._config = config
        self._guard = guard
        self._planned = planned
        self._joined = joined
        self._lock = threading.Lock()
        self._experiments: dict[str, str] = {}  # run id -> experiment
        self.cancelled: dict[str, str] = {}  # experiment -> why (the request's reason)
        self.session: pytest.Session | None = None
        self._watch = CancelWatch(location, side_folder, self._on_request)

    def follow(self, experiment: str, run_id: str) -> None:
        """Watch the run of `experiment` (called for every stored trial: cheap after the
        first)."""
        if run_id in self._experiments:
            return
        with self._lock:
            self._experiments[run_id] = experiment
        self._watch.follow(run_id)

    def close(self) -> None:
        """Stop watching (the session end begins: the runs' statuses are set next)."""
        self._watch.close()

    def _on_request(self, run_id: str, reason: str) -> None:
        """On the watch's thread: stop starting the run's trials, say so at once."""
        with self._lock:
            experiment = self._experiments[run_id]
            self.cancelled[experiment] = reason
            everything = self._everything_cancelled()
        resume = "the same --crucible-join" if self._joined else f"--crucible-resume={run_id}"
        self._guard.stop(
            experiment,
            f"run {run_id} of {experiment} was cancelled ({reason}); it is marked cancelled: "
            f"continue it with {resume}",
        )
        _say(
            self._config,
            f"crucible: run {run_id} of {experiment}: cancel requested ({reason}); no new "
            "trials start, the running ones finish and are stored",
        )
        if everything:
            self._stop_session(f"crucible: run {run_id} was cancelled ({reason})")

    def _everything_cancelled(self) -> bool:
        try:
            planned = set(self._planned())
        except RuntimeError:  # changed while read (collection): not everything then
            return False
        return (planned | set(self._experiments.values())) <= set(self.cancelled)

    def _stop_session(self, why: str) -> None:
        """Stop the session after the items running now, as -x does (pytest checks
        `shouldstop` after each item; xdist's controller after each event, and then shuts
        its workers down)."""
        if self.session is not None and not self.session.shouldstop:
            self.session.shouldstop = why
        dsession = self._config.pluginmanager.getplugin("dsession")
        if dsession is not None and not dsession.shouldstop:
            dsession.shouldstop = why

    def statuses(self) -> Collection[str]:
        """The experiments whose runs were cancelled (their status becomes `cancelled`)."""
        return set(self.cancelled)


def _say(config: pytest.Config, line: str) -> None:
    """A line on the terminal now, from any thread, also while a test's output is captured
    (on the terminal descriptor pytest's fd capture saved)."""
    saved = saved_terminal_fd(config)
    try:
        if saved is not None:
            os.write(saved, f"\n{line}\n".encode(errors="replace"))
        elif sys.__stdout__ is not None:
            sys.__stdout__.write(f"\n{line}\n")
            sys.__stdout__.flush()
    except OSError:  # no terminal to tell: the summary says it at the end
        pass
