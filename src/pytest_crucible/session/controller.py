"""The controller: owns the store and the runs (controller role).

Registered in the pytest process that is not an xdist worker: the xdist controller, or the
single process of a run without xdist (beside a worker, linked by `InProcessLink`:
in_process.py). It fixes the session inputs (the store and the runs it continues are opened
by opening.py), records every trial report as it arrives, stops experiments whose breaker
trips, and at the session end finishes the runs, has them analysed and gated, and prints the
results. The xdist-only hooks are in xdist_controller.py.
"""

from __future__ import annotations

import warnings
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.errors import CrucibleError
from pytest_crucible.session.call_setup import CallSetup, spent_by_condition
from pytest_crucible.session.cancelling import Cancels
from pytest_crucible.session.crashes import WorkerCrashes
from pytest_crucible.session.display import ProgressDisplay
from pytest_crucible.session.finish import (
    SummaryElsewhere,
    exit_status,
    report_gates,
    write_results,
)
from pytest_crucible.session.guard import RunGuard
from pytest_crucible.session.internals import is_rerun, result_of, skipped_trial
from pytest_crucible.session.joining import holder_name
from pytest_crucible.session.lifecycle import after_experiment, find_experiment
from pytest_crucible.session.link import WorkerResults
from pytest_crucible.session.opening import open_runs
from pytest_crucible.session.payload import TrialPayload
from pytest_crucible.session.progress import Tally
from pytest_crucible.session.recorder import Recorder
from pytest_crucible.session.selection import USAGE_REPORT
from pytest_crucible.session.termination import TermAsInterrupt
from pytest_crucible.store.environment import capture_environment

if TYPE_CHECKING:
    from pytest_crucible.declare.experiment import Experiment
    from pytest_crucible.declare.plan import Plan

__all__ = ["Controller"]


class Controller:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.terminate = TermAsInterrupt()  # SIGTERM stops the session as Ctrl-C does
        self._warnings: list[str] | None = None  # the recorder's, once it exists (`warn`)
        self.plans: dict[str, Plan] = {}  # the local worker's, in a run without xdist
        opened = open_runs(config, self.warn)
        self.location = opened.location  # unmasked: only to open connections
        self.store = opened.store
        self.imported = opened.imported
        self.habit = opened.habit  # why --lf or --sw continues the latest runs (habits.py)
        self.review_request = opened.review_request
        self.hold = opened.hold
        self.inputs = opened.inputs
        self.recorder = self._recorder()
        self._warnings = self.recorder.warnings
        self.calls = self._call_setup()
        self.guard = RunGuard(config, self.store.side_folder, self.recorder.warnings.append)
        self.crashes = WorkerCrashes(self.guard.crashes, self.guard.publish)
        self.cancels = Cancels(
            config,
            self.guard,
            self.location,
            self.store.side_folder,
            planned=lambda: list(self.plans),
            joined=bool(self.inputs.join),
        )
        self.tally = Tally()
        self.display = ProgressDisplay(config, self.tally)
        config.pluginmanager.register(self.display, "crucible-progress")
        config.pluginmanager.register(SummaryElsewhere(self), "crucible-summary-elsewhere")
        self.usage_error = False
        self.session: pytest.Session | None = None
        self._finished_workers = WorkerResults()  # what every worker handed over
        self.local_results: WorkerResults | None = None  # the local worker's (no xdist)
        self._budget_skips: dict[str, int] = {}
        self._empty_shard = ""  # what a shard that holds no trial says (its exit status 0)
        if getattr(config.option, "htmlpath", None):  # pytest-html is writing a report
            from pytest_crucible.session.html import HtmlHooks

            config.pluginmanager.register(HtmlHooks(self.recorder.summaries), "crucible-html")

    # -- set-up -------------------------------------------------------------------------------

    def _recorder(self) -> Recorder:
        root = self.config.rootpath
        return Recorder(
            self.store,
            self.inputs.resume,
            lambda: capture_environment(root),
            self.inputs.run_id_for,
            hold=self.hold,
            location=self.location,
            joined=holder_name(self.inputs.session, "controller") if self.inputs.join else None,
        )

    def _call_setup(self) -> CallSetup:
        resumed = {name: t.run_id for name, t in self.inputs.resume.items()}
        processes = int(getattr(self.config.option, "numprocesses", None) or 1)
        return CallSetup(
            self.config,
            store_location=self.location,
            processes=processes,
            spent_before=spent_by_condition(self.store, resumed),
        )

    def warn(self, message: str) -> None:
        if self._warnings is not None:
            self._warnings.append(message)
        else:  # before the runs are open
            warnings.warn(pytest.PytestWarning(message), stacklevel=2)

    def pytest_report_header(self) -> list[str]:
        lines = [f"crucible: store {self.store.location}"]
        if self.inputs.join:
            lease = self.config.getoption("crucible_lease")
            lines.append(
                f"crucible: joining the run(s) of --crucible-join={self.inputs.join} (claims "
                f"last {lease:g} s without heartbeat)"
            )
        if self.habit and self.inputs.resume:
            lines.append(f"crucible: {self.habit}")
        for text in (self.imported.message(), *self.imported.kept):
            if text:
                lines.append(f"crucible: {text}")
        for name, target in self.inputs.resume.items():
            if target.only is not None:
                lines.append(
                    f"crucible: retrying the {len(target.only)} failed trial(s) of run "
                    f"{target.run_id} of {name!r}; its other trials are kept"
                )
                continue
            lines.append(
                f"crucible: resuming run {target.run_id} of {name!r}: "
                f"{len(target.completed)} passed trials will be reused, not run again"
            )
        return lines

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = self.cancels.session = session
        self.terminate.install()

    # -- collection (done by the workers, or by the local one) ------------------------------

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """A joined run exists from collection on (joining.py): its cancel requests are
        watched before this process stores a trial (under xdist, from its first trial)."""
        if self.inputs.join:
            for name in list(self.plans):
                self.cancels.follow(name, self.inputs.run_id_for(name))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A usage problem found at collection (by a worker: worker.py `_select`)."""
        if report.failed and report.nodeid == USAGE_REPORT:
            self.usage_error = True

    def receive(self, results: WorkerResults) -> None:
        """What a worker hands over at its end (link.py)."""
        for payload in results.unreported:
            self._record(payload)
        self._finished_workers.collected.update(results.collected)
        for name, text in results.estimates.items():
            self.calls.estimates.setdefault(name, text)

    # -- recording --------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.crashes.crashes:
            self.crashes.note_report(report)
        payload = result_of(report)
        if payload is not None:
            # pytest-rerunfailures runs a failed trial again: this attempt is not its result
            self._record(payload, rerun=is_rerun(report))
        elif report.skipped and report.when == "setup":
            self._note_budget_skip(report)
            skipped = skipped_trial(report)
            if skipped is not None:
                self.tally.skip(*skipped)
                self.display.recorded()

    def _note_budget_skip(self, report: pytest.TestReport) -> None:
        """Say once per experiment why trials were skipped for budget (pytest's summary
        lists skip reasons only with -rs)."""
        longrepr = report.longrepr
        reason = str(longrepr[2]) if isinstance(longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith("budget:"):
            self._budget_skips[reason] = self._budget_skips.get(reason, 0) + 1

    def _record(self, data: dict[str, Any], *, rerun: bool = False) -> None:
        """Store a trial's result (an attempt that will be `rerun` too: if the session ends
        before its rerun, it is the trial's result), count it, guard the run."""
        payload = TrialPayload.from_json(data)
        try:
            self.recorder.record(payload)
        except CrucibleError as exc:
            raise pytest.UsageError(str(exc)) from None
        outcome = self.recorder.runs.get(payload.record.experiment)
        if outcome is not None:
            self.cancels.follow(outcome.experiment, outcome.run_id)
        self.tally.record(payload.record, rerun=rerun)
        self._guard(payload, rerun=rerun)
        if self.recorder.store_full is not None:
            self._stop_for_full_store()
        self.display.recorded()

    def _stop_for_full_store(self) -> None:
        """The disk is full: start no more trials (their results could not be kept); what
        is stored stays, and the run is resumable once there is space."""
        full = self.recorder.store_full
        if self.session is None or self.session.shouldstop or full is None:
            return
        runs = " ".join(f"--crucible-resume={o.run_id}" for o in self.recorder.runs.values())
        message = (
            f"{full}. No new trials are started; the trials already stored are kept. "
            f"Once there is space, continue the run with `pytest --crucible {runs}`"
        )
        self.recorder.errors.append(message)
        self.session.shouldstop = "crucible: the store's disk is full"
        for experiment in self.recorder.runs:
            with suppress(OSError):  # no room for the stop file either: workers go on
                self.guard.stop(experiment, "the store's disk is full")

    def _guard(self, payload: TrialPayload, *, rerun: bool) -> None:
        """Dead-letter a trial that failed for good; stop the run when a breaker trips or a
        trial asks for it (guard.py). An attempt that will be rerun is neither yet."""
        outcome = self.recorder.runs.get(payload.record.experiment)
        if outcome is None:
            return
        reason = self.guard.observe(outcome.run_id, payload, final=not rerun)
        if reason is not None:
            self.guard.stop(outcome.experiment, reason)

    # -- session end ------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.cancels.close()  # before the runs' statuses are set
        self.calls.close()
        self.recorder.warnings.extend(self._end_warnings())
        if self.local_results is not None:
            self.receive(self.local_results)
        if self.usage_error:  # found at collection: nothing ran, nothing to finish
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        self._finish_runs(session, exitstatus)
        code = self.recorder.review(self.review_request)
        self.recorder.record_sessions()
        report_gates(self.config, self.recorder.gate_results())
        session.exitstatus = exit_status(session.exitstatus, code, bool(self.recorder.runs))
        if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            session.exitstatus = self._empty_shard_status()
        unstored = self.recorder.store_full is not None or self.recorder.unstored
        # not all in the store: no success, and not a usage error (the analysis could not
        # save to a full store either)
        if unstored and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.USAGE_ERROR):
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        if self.crashes.unstored() and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # its xdist report is a rerun
        if self.cancels.cancelled and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.INTERRUPTED  # as Ctrl-C: not complete
        self._after_experiments()

    def _empty_shard_status(self) -> int:
        """A shard that holds none of the collected experiments' trials has nothing to do,
        which is no failure of its CI job (pytest's "no tests ran", 5, stays otherwise)."""
        experiments = sorted(self._finished_workers.collected)
        if not self.inputs.shard or not experiments:
            return int(pytest.ExitCode.NO_TESTS_COLLECTED)
        self._empty_shard = (
            f"crucible: shard {self.inputs.shard} holds none of the trials of "
            f"{', '.join(experiments)} (each trial's shard is a hash of its key): nothing to "
            "run here"
        )
        return int(pytest.ExitCode.OK)

    def _end_warnings(self) -> list[str]:
        warning = self.calls.unpriced_warning()
        skipped = self._budget_skips.items()
        notes = [f"{count} trial(s) skipped, {reason}" for reason, count in skipped]
        return [warning, *notes] if warning else notes

    def _finish_runs(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = (
            exitstatus == pytest.ExitCode.INTERRUPTED
            or bool(session.shouldstop)
            or bool(session.shouldfail)
        )
        try:
            self.recorder.finish(
                interrupted=interrupted,
                crashed=exitstatus == pytest.ExitCode.INTERNAL_ERROR,
                collected=self._finished_workers.collected,
                stopped=self.guard.stopped,
                cancelled=self.cancels.statuses(),
            )
        except CrucibleError as exc:  # the trials are stored; only the run's status is not
            self.recorder.warnings.append(f"could not finish the runs: {exc}")

    def _after_experiments(self) -> None:
        """The after_experiment hooks of each run (an experiment's own one too: under xdist
        the controller imports its trial function's module to reach it)."""
        for outcome in self.recorder.runs.values():
            name = outcome.experiment
            experiment = self._experiment(name)
            self.recorder.errors.extend(
                after_experiment(self.config, experiment, name, outcome.run_id, self.store)
            )

    def _experiment(self, name: str) -> Experiment | None:
        plan = self.plans.get(name)
        if plan is not None:
            return plan.experiment
        module = self.guard.policies.get(name, {}).get("module")
        if not module:
            return None
        try:
            return find_experiment(self.config, module, name)
        except Exception as exc:
            self.recorder.errors.append(
                f"Hooks(after_experiment=...) of experiment {name} did not run: the "
                f"controller cannot import {module} ({type(exc).__name__}: {exc}); "
                "implement pytest_crucible_after_experiment in conftest.py instead"
            )
            return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        run_ids = {name: outcome.run_id for name, outcome in self.recorder.runs.items()}
        lines = self.crashes.summary_lines(run_ids)
        if lines:
            terminalreporter.section("crucible: worker crashes", red=True)
            for line in lines:
                terminalreporter.write_line(line, red=True)
        if self.calls.estimates:
            terminalreporter.section("crucible estimate")
            for text in self.calls.estimates.values():
                terminalreporter.write_line(text)
        if self.recorder.runs:
            write_results(terminalreporter, self.recorder, self.store, self.guard)
        if self._empty_shard:
            terminalreporter.write_line(self._empty_shard)

    def pytest_unconfigure(self) -> None:
        self.terminate.uninstall()
        self.cancels.close()  # a session that broke off before its end
        self.recorder.close_reviewer()
        self.hold.release()  # done at the runs' finish; here when the session broke off
        self.store.close()
        self.guard.close()
