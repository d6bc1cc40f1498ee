"""Trials that crash their xdist worker (`os._exit`, a segfault, the OOM killer): the
controller notes the crash (`WorkerCrashes`), a worker answers it (`crash_verdict`).

pytest-xdist hands the trial a dead worker was running back to the queue, so it crashed
every worker it reached. Instead, the session's scheduler (scheduling.py) names the trial to
`WorkerCrashes.crashed` before anything is sent again; the crash reaches the workers through
the stop file (recovery.StopSignal), and the worker that receives the trial next does not run
it: it fails the trial at set-up with "worker crashed", so the trial is stored with its key
and dead-lettered like any failed trial, and `--crucible-retry-failed` runs it alone.

With several trials in flight (`--crucible-concurrency`), a crash cannot be pinned on one of
them: xdist names the item pytest was running, and a trial started ahead of its item may be
the one that crashed. Then the named trial and those that may have been in flight with it
(the next 2 x limit of its group, `crash_verdict`) run again one at a time: the one that
crashes alone is pinned and recorded, the others are stored as they finish. Trials the dead
worker had not finished are sent again, as xdist does; with no worker left (xdist's
--max-worker-restart), they are not stored and `--crucible-resume` runs them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.session.internals import ran_alone, result_of, worker_popen
from pytest_crucible.store.records import TrialRecord

if TYPE_CHECKING:
    from pytest_crucible.run.trial import Trial

__all__ = ["WORKER_CRASHED", "CrashVerdict", "WorkerCrashes", "crash_verdict", "describe_death"]

WORKER_CRASHED = "WorkerCrashed"  # the error type of a trial that crashed its worker
_EXIT_WAIT_S = 5.0  # the dead worker's process has closed its pipe: it is gone or going


def describe_death(node: Any) -> str:
    """How an xdist worker process ended: "exit code 1", "signal SIGSEGV", or unknown."""
    popen = worker_popen(node)
    try:
        code = popen.wait(timeout=_EXIT_WAIT_S) if popen is not None else None
    except Exception:  # no such process, still running: say what is known
        code = None
    if not isinstance(code, int):
        return "exit status unknown"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


class WorkerCrashes:
    """On the controller: the trials that crashed a worker, published to the workers with
    `publish` (node id -> {"message", "pinned"}), and which of them were stored since."""

    def __init__(self, crashes: dict[str, dict[str, Any]], publish: Callable[[], None]) -> None:
        self.crashes = crashes
        self._publish = publish
        self._ran_alone: set[str] = set()
        self._stored: dict[str, str] = {}  # node id -> experiment, once stored as crashed
        self._cleared: set[str] = set()  # ran again alone and finished: not the culprit

    def crashed(self, nodeid: str, node: Any) -> None:
        """The worker `node` died while running `nodeid` (called before it is sent again)."""
        worker = getattr(getattr(node, "gateway", None), "id", "?")
        message = f"worker {worker} crashed ({describe_death(node)}) while running this trial"
        pinned = nodeid in self.crashes or nodeid in self._ran_alone
        self.crashes[nodeid] = {"message": message, "pinned": pinned}
        self._stored.pop(nodeid, None)
        self._publish()

    def note_report(self, report: pytest.TestReport) -> None:
        """A report of a trial after some crash: did it run alone, was it stored."""
        if ran_alone(report):
            self._ran_alone.add(report.nodeid)
        payload = result_of(report)
        if payload is not None and report.nodeid in self.crashes:
            record = TrialRecord.from_json(payload["trial"])
            if record.failure_type == WORKER_CRASHED:
                self._stored[report.nodeid] = record.experiment
            else:
                self._cleared.add(report.nodeid)

    def summary_lines(self, run_ids: Mapping[str, str]) -> list[str]:
        """What the terminal says about each crash, with the command that continues."""
        lines = []
        for nodeid, crash in self.crashes.items():
            if nodeid in self._cleared:
                continue
            experiment = self._stored.get(nodeid)
            if experiment is not None:
                run_id = run_ids.get(experiment, "RUN_ID")
                lines.append(
                    f"{crash['message']}: {nodeid}; it is stored as failed (and in the dead "
                    "letters) and was not run again; run it alone with "
                    f"--crucible-retry-failed={run_id}"
                )
            else:
                lines.append(
                    f"{crash['message']}: {nodeid}; no worker was left to record it (see "
                    "xdist's --max-worker-restart), so it is not stored; --crucible-resume "
                    "runs it again with every trial that did not finish"
                )
        return lines

    def unstored(self) -> bool:
        return any(n not in self._stored and n not in self._cleared for n in self.crashes)


@dataclass(frozen=True)
class CrashVerdict:
    """What a worker does with a trial after a crash: record it as crashed without running
    it (`message`), or run it with no other trial in flight (`alone`)."""

    message: str | None = None
    alone: bool = False

    def record_as_crashed(self, trial: Trial) -> str:
        """Give `trial` the error of a trial that crashed its worker; the message to fail
        its item with."""
        message = (
            f"{self.message}; it was not run again, so that it crashes no other worker. "
            "Run it alone with --crucible-retry-failed (or --crucible-resume)"
        )
        trial.error = {
            "type": WORKER_CRASHED,
            "message": message,
            "where": "worker",
            "traceback": "",
        }
        return message


def crash_verdict(
    nodeid: str,
    crashes: Mapping[str, Mapping[str, Any]],
    limit: int,
    follows: Callable[[str, int], bool],
) -> CrashVerdict | None:
    """The verdict for trial `nodeid`, run with `limit` trials in flight, on a worker;
    `follows(crashed, n)`: whether it comes at most n places after trial `crashed` in its
    group (it may have been started ahead with it)."""
    crash = crashes.get(nodeid)
    if crash is not None and (crash["pinned"] or limit <= 1):
        return CrashVerdict(message=str(crash["message"]))
    if crash is not None:
        return CrashVerdict(alone=True)
    if limit <= 1:  # nothing was started ahead of its item
        return None
    for crashed, other in crashes.items():
        if not other["pinned"] and follows(crashed, 2 * limit):
            return CrashVerdict(alone=True)
    return None
