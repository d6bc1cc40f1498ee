"""The per-run object registered as a pytest plugin when `--crucible` is given.

Roles (pytest-xdist): the controller (or a run without xdist) fixes the session inputs, owns
the store, records every trial report and prints the results; workers collect and run. Both
roles are this one class; `self.controller` says which parts are active.
"""

from __future__ import annotations

import inspect
import logging
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.declare.config import parse_overrides
from pytest_crucible.declare.experiment import Experiment, Plan
from pytest_crucible.errors import ConfigError, CrucibleError, ExperimentError
from pytest_crucible.run.recovery import TrialSkipped
from pytest_crucible.run.runner import (
    ActiveTrial,
    BoundCondition,
    ForeignTrialFilter,
    LoopThread,
    TrialLogHandler,
    run_trial_function,
)
from pytest_crucible.run.trial import Trial
from pytest_crucible.session.call_setup import CallSetup, spent_by_condition
from pytest_crucible.session.crashes import (
    WORKER_CRASHED,
    CrashVerdict,
    WorkerCrashes,
    crash_verdict,
)
from pytest_crucible.session.finish import (
    exit_status,
    report_gates,
    review_request,
    write_results,
)
from pytest_crucible.session.guard import RunGuard, StopSignal
from pytest_crucible.session.inputs import SessionInputs, resolve_resume
from pytest_crucible.session.items import (
    ALONE_KEY,
    GROUP_KEY,
    SPEC_KEY,
    TRIAL_KEY,
    TRIAL_PARAM,
    check_trial_arguments,
    direct_arguments,
    spec_of,
)
from pytest_crucible.session.lifecycle import (
    TrialHooks,
    after_experiment,
    before_experiment,
    find_experiment,
)
from pytest_crucible.session.lookahead import Lookahead, assign_groups
from pytest_crucible.session.output import OutputRouter, RoutedPhases
from pytest_crucible.session.payload import TrialPayload, TrialPayloads
from pytest_crucible.session.prefetch import Prefetcher, Started
from pytest_crucible.session.recorder import Recorder
from pytest_crucible.session.selection import (
    USAGE_REPORT,
    overrides_for,
    split_resumed,
    stale_retry_warnings,
    usage_problems,
)
from pytest_crucible.store.environment import capture_environment
from pytest_crucible.store.holding import RunHold
from pytest_crucible.store.journal import Journal, JournalImport, import_journals
from pytest_crucible.store.sqlite import DEFAULT_STORE, Store
from pytest_crucible.util.names import SESSION_PLUGIN
from pytest_crucible.util.utf8 import escape_unencodable, has_unencodable

if TYPE_CHECKING:
    from collections.abc import Generator

__all__ = [
    "SESSION_PLUGIN",
    "TRIAL_KEY",
    "TRIAL_PARAM",
    "CrucibleSession",
    "check_trial_arguments",
]

_PROGRESS_STEPS = 10
# Seconds that trials already running get to finish when the session stops early.
STOP_GRACE_S = 10.0


class CrucibleSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.controller = not hasattr(config, "workerinput")
        self.worker_id: str = getattr(config, "workerinput", {}).get("workerid", "main")
        self.loop = LoopThread()
        self.plans: dict[str, Plan] = {}
        self.payloads = TrialPayloads(self.plans, self.worker_id)
        self._used_overrides: set[tuple[str | None, str]] = set()
        self.recorder: Recorder | None = None
        self.total: int | None = None
        self._next_progress = 0
        self.lookahead = Lookahead(
            config.getoption("crucible_concurrency"),
            owns_every_item=self.controller,
            warn=self._warn,
        )
        self.prefetcher = Prefetcher(
            self.loop,
            self._make_active,
            self.lookahead.upcoming,
            self._may_start,
            self._runs_alone,
            on_finished=self._journal_finished,
        )
        self.journal: Journal | None = None  # this process's (`_journal_finished`)
        self._journal_failed = False
        self.imported = JournalImport()
        self._direct: dict[Any, tuple[str, ...]] = {}
        self._command_line_gates: list[str] = list(config.getoption("crucible_gate"))
        self._usage_problems: list[str] = []
        self.usage_error = False
        # the experiments collected (by this process, or by the xdist workers), each with how
        # many of its trials the resumed run already has (deselected, reused)
        self.collected: dict[str, int] = {}
        self._budget_skips: dict[str, int] = {}
        self.log_handler = TrialLogHandler()
        self.log_filter = ForeignTrialFilter()
        self.output = OutputRouter()
        phases = RoutedPhases(self.output, self.prefetcher.pending)
        config.pluginmanager.register(phases, "crucible-output")
        if self.controller:
            self.inputs = self._controller_inputs()
            spent = spent_by_condition(
                self.store, {name: t.run_id for name, t in self.inputs.resume.items()}
            )
            processes = int(getattr(config.option, "numprocesses", None) or 1)
            self.calls = CallSetup(
                config, store_path=self.store.path, processes=processes, spent_before=spent
            )
        else:
            workerinput = config.workerinput  # type: ignore[attr-defined]
            self.inputs = SessionInputs.from_json(workerinput["crucible"])
            self.journal = Journal(Path(workerinput["crucible_store"]))
            self.calls = CallSetup(
                config,
                store_path=Path(workerinput["crucible_store"]),
                processes=int(workerinput.get("workercount", 1)),
                spent_before=workerinput.get("crucible_spent", {}),
            )
        # error recovery: dead letters and breakers (controller), the stop file (workers)
        self.session: pytest.Session | None = None
        self._trial_hooks: dict[str, TrialHooks] = {}
        self.guard = None
        self.crashes: WorkerCrashes | None = None
        if self.controller and self.recorder is not None:
            self.guard = RunGuard(config, self.store.path, self.recorder.warnings.append)
            self.crashes = WorkerCrashes(self.guard.crashes, self.guard.publish)
        stop_path = getattr(config, "workerinput", {}).get("crucible_stop")
        self.stop_signal = StopSignal(Path(stop_path)) if stop_path else None

    # -- set-up (controller) ----------------------------------------------------------------

    def _controller_inputs(self) -> SessionInputs:
        option = self.config.getoption
        try:
            overrides = parse_overrides(option("crucible_set") or [])
            self.store = Store(self._store_path(), verify=True)
            self.imported = import_journals(self.store)  # before resume reads what is done
            resume = resolve_resume(self.store, option("crucible_resume"))
            retry = option("crucible_retry_failed")
            if retry is not None:
                if resume:
                    raise pytest.UsageError(
                        "--crucible-resume and --crucible-retry-failed both continue a run; "
                        "use one (--crucible-retry-failed runs only the failed trials again)"
                    )
                resume = resolve_resume(
                    self.store, retry, option="--crucible-retry-failed", failed_only=True
                )
            self.review_request = review_request(self.config, self.store)
            # last: a refusal here leaves nothing held and nothing written
            self.hold = RunHold(self.store, self._warn)
            option_name = "--crucible-resume" if retry is None else "--crucible-retry-failed"
            self.hold.take_all({name: t.run_id for name, t in resume.items()}, option_name)
        except CrucibleError as exc:
            raise pytest.UsageError(str(exc)) from None
        inputs = SessionInputs.new(
            seed_override=option("crucible_seed"), overrides=overrides, resume=resume
        )
        root = self.config.rootpath
        self.recorder = Recorder(
            self.store,
            resume,
            lambda: capture_environment(root),
            inputs.run_id_for,
            hold=self.hold,
        )
        self.journal = self.recorder.journal
        if getattr(self.config.option, "htmlpath", None):  # pytest-html is writing a report
            from pytest_crucible.session.html import HtmlHooks

            hooks = HtmlHooks(self.recorder.summaries)
            self.config.pluginmanager.register(hooks, "crucible-html")
        return inputs

    def _store_path(self) -> Path:
        given = self.config.getoption("crucible_store") or self.config.getini("crucible_store")
        path = Path(given) if given else DEFAULT_STORE
        return path if path.is_absolute() else self.config.invocation_params.dir / path

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["crucible"] = self.inputs.to_json()
        node.workerinput["crucible_store"] = str(self.store.path)
        node.workerinput["crucible_spent"] = self.calls.spending.spent_before
        node.workerinput["crucible_groups"] = self._group_count()
        if self.guard is not None:
            node.workerinput["crucible_stop"] = str(self.guard.signal.path)

    def _group_count(self) -> int:
        """Trial groups per trial function under xdist (0: xdist schedules as the user said)."""
        if getattr(self.config.option, "dist", "no") != "load":
            return 0
        return 2 * max(1, int(self.config.option.numprocesses or 1))

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        count = self._group_count()
        if not count:
            return None
        from pytest_crucible.session.scheduling import TrialGroupScheduling

        on_crash = self.crashes.crashed if self.crashes is not None else None
        return TrialGroupScheduling(config, log, group_count=count, on_crash=on_crash)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport) -> None:
        """xdist's report of the trial a worker died running: not a failure of its own, as
        the trial's own report follows (session/crashes.py); shown as a rerun."""
        if self.crashes is not None and crashitem in self.crashes.crashes:
            report.outcome = "rerun"  # type: ignore[assignment]
            report.crucible_crash = True  # type: ignore[attr-defined]

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        if getattr(report, "crucible_crash", False):
            return "rerun", "R", ("WORKER CRASHED", {"yellow": True})
        return None

    def pytest_report_header(self) -> list[str]:
        lines = [f"crucible: store {self.store.path}"] if self.controller else []
        for text in (self.imported.message(), *self.imported.kept) if self.controller else ():
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

    # -- collection (workers, or the single process) ----------------------------------------

    def plan_for(self, experiment: Experiment) -> Plan:
        known = self.plans.get(experiment.name)
        if known is not None:
            if known.experiment is not experiment:
                raise ExperimentError(
                    f"two experiments are named {experiment.name!r}; experiment names must "
                    "be unique in a session (they name the runs in the store)"
                )
            return known
        applicable = before_experiment(
            self.config,
            experiment,
            overrides_for(experiment, self.inputs.overrides, self._used_overrides),
        )
        plan = experiment.plan(
            overrides=applicable,
            seed=self.inputs.seed_for(experiment.name),
            seed_override=self.inputs.seed_override,
        )
        self.calls.add_plan(plan)
        self.plans[experiment.name] = plan
        return plan

    def parametrize(self, metafunc: pytest.Metafunc, experiment: Experiment) -> None:
        """One test item per trial, parametrized with the trial's spec.

        `pytest_runtest_setup` replaces the spec with the running trial, which the fixtures
        `condition`, `item` and `trial` unpack. The session, not the fixture system, creates
        the trial (what prefetching needs), and no fixture takes `request` (~100 us each).
        """
        check_trial_arguments(metafunc, experiment)
        try:
            plan = self.plan_for(experiment)
        except ConfigError as exc:  # a bad --crucible-set value: a usage error, said once
            self._usage_problems.append(str(exc))  # collection ends (`_select`)
            metafunc.parametrize(TRIAL_PARAM, [None], ids=[experiment.name])
            return
        except CrucibleError as exc:
            raise pytest.Collector.CollectError(str(exc)) from None
        metafunc.parametrize(TRIAL_PARAM, plan.trials, ids=[t.test_id for t in plan.trials])

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> Generator[None, None, None]:
        self._select(config, items)
        yield
        count = getattr(config, "workerinput", {}).get("crucible_groups", 0)
        if count:
            groups = assign_groups([item.nodeid for item in items], count)
            for item in items:
                group = groups.get(item.nodeid)
                if group is not None:
                    item.stash[GROUP_KEY] = group

    def _select(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        problems = self._usage_problems + usage_problems(
            self.plans, self.inputs.overrides, self._used_overrides, self._command_line_gates
        )
        if problems:
            # A failed collection report, not an exception: raised here under xdist a
            # UsageError would crash the worker instead of reaching the user. The controller
            # recognises the report and ends the session with exit status 4.
            report = pytest.CollectReport(USAGE_REPORT, "failed", "\n".join(problems), [])
            config.hook.pytest_collectreport(report=report)
            items[:] = []
            return
        self.collected = dict.fromkeys(self.plans, 0)
        if not self.inputs.resume:
            return
        for warning in stale_retry_warnings(items, self.inputs.resume):
            self._warn(warning)
        keep, done = split_resumed(items, self.inputs.resume)
        if done:
            for item in done:
                self.collected[item.stash[SPEC_KEY].experiment] += 1
            config.hook.pytest_deselected(items=done)
            items[:] = keep

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """On the controller: a usage problem found at collection (here or on a worker)."""
        if report.failed and report.nodeid == USAGE_REPORT:
            self.usage_error = True

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.lookahead.set_items(session.items)
        if self.calls.estimating:
            for plan in self.plans.values():
                self.calls.estimate(plan, self.lookahead.concurrency(plan.experiment.concurrency))
        if self.controller:
            self.total = sum(1 for item in session.items if spec_of(item) is not None)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.total is None:
            self.total = len(ids)

    # -- running (workers, or the single process) -------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Give the trial function its runtime values before pytest sets up fixtures."""
        if spec_of(item) is None:
            return
        active = self.prefetcher.active_for(item)
        if active is None:
            reason = self._skip_reason(item)
            if reason is not None:
                pytest.skip(reason)
            self._apply_crash_verdict(item)
            active = self._make_active(item)
        item.stash[TRIAL_KEY] = active.trial
        item.callspec.params[TRIAL_PARAM] = active  # type: ignore[attr-defined]
        # pytest sets up only the arguments missing from funcargs: giving the plugin's four
        # fixtures their values here saves their set-up and teardown (~0.15 ms per trial)
        funcargs = item.funcargs  # type: ignore[attr-defined]
        for name in self._direct_arguments(item):
            funcargs[name] = active if name == TRIAL_PARAM else getattr(active, name)

    def _direct_arguments(self, item: pytest.Item) -> tuple[str, ...]:
        function = item.obj  # type: ignore[attr-defined]
        known = self._direct.get(function)
        if known is None:
            known = self._direct[function] = direct_arguments(item)
        return known

    def _crash_verdict(self, item: pytest.Item) -> CrashVerdict | None:
        """After a worker crashed (session/crashes.py): record this trial as crashed, or run
        it alone, or None (as ever). Read from the stop file `_skip_reason` just read."""
        crashes = self.stop_signal.crashes() if self.stop_signal is not None else None
        if not crashes:
            return None
        spec = item.stash[SPEC_KEY]
        limit = self.lookahead.limit(item, spec, self.plans[spec.experiment].experiment.concurrency)
        return crash_verdict(
            item.nodeid,
            crashes,
            limit,
            lambda crashed, distance: self.lookahead.follows(item, crashed, distance),
        )

    def _apply_crash_verdict(self, item: pytest.Item) -> None:
        verdict = self._crash_verdict(item)
        if verdict is None:
            return
        if verdict.alone:
            item.stash[ALONE_KEY] = True
            return
        spec = item.stash[SPEC_KEY]
        trial = Trial(spec, self.plans[spec.experiment])
        message = (
            f"{verdict.message}; it was not run again, so that it crashes no other worker. "
            "Run it alone with --crucible-retry-failed (or --crucible-resume)"
        )
        trial.error = {
            "type": WORKER_CRASHED,
            "message": message,
            "where": "worker",
            "traceback": "",
        }
        item.stash[TRIAL_KEY] = trial
        pytest.fail(message, pytrace=False)

    def _runs_alone(self, item: pytest.Item) -> bool:
        """Whether a trial must not be started ahead: it runs with no other in flight."""
        if self.stop_signal is None or not self.stop_signal.crashes():
            return False
        verdict = self._crash_verdict(item)
        return verdict is not None

    def _make_active(self, item: pytest.Item) -> ActiveTrial:
        spec = item.stash[SPEC_KEY]
        plan = self.plans[spec.experiment]
        trial = Trial(spec, plan)
        trial.call_context = self.calls.context_for(spec)
        condition = plan.experiment.conditions[spec.condition]
        awaited = inspect.iscoroutinefunction(item.obj)  # type: ignore[attr-defined]
        hooks = self._trial_hooks.get(spec.experiment)
        if hooks is None:
            hooks = self._trial_hooks[spec.experiment] = TrialHooks(
                self.config, plan.experiment.hooks
            )
        bound = BoundCondition(condition, trial, self.loop, awaited=awaited, hooks=hooks)
        return ActiveTrial(trial, bound, spec.item)

    def _journal_finished(self, started: Started) -> None:
        """Journal a trial started ahead as soon as it ends (on the loop's thread): its item
        may report it much later, or never (a kill -9), and only then is it stored."""
        if self.journal is None or self._journal_failed:
            return
        try:
            result = self.payloads.for_journal(started)
            if result is None:
                return
            run_id = self.inputs.run_id_for(result.experiment)
            header = None
            if not self.journal.has_header(run_id):
                header = self.plans[result.experiment].header()
            self.journal.append(run_id, header, result, self.worker_id)
        except Exception as exc:  # the report still brings the result: warn, go on
            self._journal_failed = True
            self._warn(
                f"could not journal finished trials ({type(exc).__name__}: {exc}); they are "
                "stored when their items report, and a kill before that loses them"
            )

    def _may_start(self, item: pytest.Item) -> bool:
        return self._skip_reason(item) is None

    def _skip_reason(self, item: pytest.Item) -> str | None:
        """Why a trial must not start: its experiment was stopped (a breaker, an abort;
        see session/recovery.py), or its budget is spent."""
        spec = item.stash[SPEC_KEY]
        stopped = self.guard.stopped if self.guard is not None else None
        if stopped is None and self.stop_signal is not None:
            stopped = self.stop_signal.received()
        reason = stopped.get(spec.experiment) if stopped else None
        if reason is not None:
            return f"stopped: {reason}; continue the run with --crucible-resume"
        return self.calls.skip_reason(spec)

    def _warn(self, message: str) -> None:
        if self.recorder is not None:
            self.recorder.warnings.append(message)
        else:
            import warnings

            warnings.warn(pytest.PytestWarning(message), stacklevel=2)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        """Put the specs back so that finished trials are not kept alive by the item."""
        spec = item.stash.get(SPEC_KEY, None)
        if spec is not None and TRIAL_KEY in item.stash:
            del item.stash[TRIAL_KEY]
            item.callspec.params[TRIAL_PARAM] = spec  # type: ignore[attr-defined]

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        trial = pyfuncitem.stash.get(TRIAL_KEY, None)
        if trial is None:
            return None
        names = pyfuncitem._fixtureinfo.argnames
        kwargs = {name: pyfuncitem.funcargs[name] for name in names}
        spec = pyfuncitem.stash[SPEC_KEY]
        declared = self.plans[spec.experiment].experiment.concurrency
        limit = self.lookahead.limit(pyfuncitem, spec, declared)
        if pyfuncitem.stash.get(ALONE_KEY, False):
            limit = 1
        try:
            if limit > 1:
                self.output.install()
                try:
                    self.prefetcher.run(pyfuncitem, kwargs, limit)
                finally:
                    self.output.uninstall()
            else:
                run_trial_function(pyfuncitem.obj, kwargs, trial, self.loop)
        except TrialSkipped as exc:  # an on_error hook answered "skip"
            pytest.skip(exc.reason)
        finally:
            if trial.concurrent and trial.captured_log():
                pyfuncitem.add_report_section("call", "log", trial.captured_log())
            for stream, text in self.output.take(trial).items():
                pyfuncitem.add_report_section("call", stream, text)
        missing = trial.missing_metrics()
        if missing:
            message = (
                f"trial {trial.spec.test_id} of experiment {trial.spec.experiment} did not "
                f"record the declared metric(s) {missing}; call trial.record({missing[0]}=...)"
            )
            trial.error = {
                "type": "MetricError",
                "message": message,
                "where": "trial function",
                "traceback": "",
            }
            pytest.fail(message, pytrace=False)
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        spec = spec_of(item)
        if spec is None:
            return report
        if call.when == "setup" and item.stash.get(ALONE_KEY, False):
            report.crucible_alone = True  # type: ignore[attr-defined]
        if call.when == "call" or (call.when == "setup" and report.failed):
            trial = item.stash.get(TRIAL_KEY, None) or Trial(spec, self.plans[spec.experiment])
            exception = call.excinfo.value if call.excinfo is not None else None
            payload = self.payloads.for_report(
                trial, outcome=report.outcome, when=call.when, exception=exception
            )
            report.crucible = payload  # type: ignore[attr-defined]
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(
        self, report: pytest.TestReport
    ) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
        """On a worker: escape text UTF-8 cannot encode in a report (its error, its
        captured output) before execnet sends it, which would fail with INTERNALERROR."""
        data = yield
        if self.controller or data is None or not has_unencodable(data):
            return data
        escaped: dict[str, Any] = escape_unencodable(data)
        return escaped

    # -- recording and results (controller) -------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.crashes is not None and self.crashes.crashes:
            self.crashes.note_report(report)
        payload = getattr(report, "crucible", None)
        if payload is not None:
            self._record(payload)
        elif report.skipped and report.when == "setup" and self.recorder is not None:
            self._note_budget_skip(report)

    def _note_budget_skip(self, report: pytest.TestReport) -> None:
        """Say once per experiment why trials were skipped for budget (pytest's summary
        lists skip reasons only with -rs)."""
        longrepr = report.longrepr
        reason = str(longrepr[2]) if isinstance(longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        if reason.startswith("budget:") and self.recorder is not None:
            self._budget_skips[reason] = self._budget_skips.get(reason, 0) + 1

    def _record(self, data: dict[str, Any]) -> None:
        if self.recorder is None:
            return
        payload = TrialPayload.from_json(data)
        try:
            self.recorder.record(payload)
        except CrucibleError as exc:
            raise pytest.UsageError(str(exc)) from None
        self._guard(payload)
        if self.recorder.store_full is not None:
            self._stop_for_full_store()
        self._show_progress()

    def _stop_for_full_store(self) -> None:
        """The disk is full: start no more trials (their results could not be kept); what
        is stored stays, and the run is resumable once there is space."""
        assert self.recorder is not None and self.guard is not None
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

    def _guard(self, payload: TrialPayload) -> None:
        """Dead-letter a trial that failed for good; stop the run when a breaker trips or a
        trial asks for it (session/recovery.py)."""
        outcome = self.recorder.runs.get(payload.record.experiment) if self.recorder else None
        if self.guard is None or outcome is None:
            return
        reason = self.guard.observe(outcome.run_id, payload)
        if reason is not None:
            self.guard.stop(outcome.experiment, reason)

    def _show_progress(self) -> None:
        """A progress line at every tenth of the trials (when there are 20 or more)."""
        assert self.recorder is not None
        total = self.total or 0
        step = max(1, total // _PROGRESS_STEPS)
        if total < 20 or self.recorder.done < max(step, self._next_progress):
            return
        self._next_progress = (self.recorder.done // step + 1) * step
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        if reporter._tw.width_of_current_line:  # after a row of dots (xdist writes no newline)
            reporter.write("\n")
        reporter.write_line(self.recorder.progress_line(self.total))

    def _stop_prefetched(self) -> list[dict[str, Any]]:
        """Stop starting trials; those that finished ahead of an item pytest never ran
        (after -x, Ctrl-C, a budget) are stored all the same."""
        try:
            finished = self.prefetcher.stop(STOP_GRACE_S)
        except KeyboardInterrupt:  # a second Ctrl-C: give up waiting at once
            finished = self.prefetcher.stop(0.0)
        return [self.payloads.for_started(started) for started in finished]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        for payload in output.get("crucible_unreported", []):
            self._record(payload)
        self.collected.update(output.get("crucible_collected", {}))
        for name, text in output.get("crucible_estimates", {}).items():
            self.calls.estimates.setdefault(name, text)

    @pytest.hookimpl(tryfirst=True)  # before junitxml writes its file
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        unreported = self._stop_prefetched()
        self.calls.close()
        if not self.controller:
            if self.journal is not None:
                self.journal.close()  # unlocked: the controller imports what it lacks
            output = self.config.workeroutput  # type: ignore[attr-defined]
            output["crucible_unreported"] = unreported
            output["crucible_estimates"] = self.calls.estimates
            output["crucible_collected"] = self.collected
            return
        warning = self.calls.unpriced_warning()
        if warning and self.recorder is not None:
            self.recorder.warnings.append(warning)
        for reason, count in self._budget_skips.items():
            if self.recorder is not None:
                self.recorder.warnings.append(f"{count} trial(s) skipped, {reason}")
        for payload in unreported:
            self._record(payload)
        if self.recorder is None:
            return
        if self.usage_error:  # found at collection: nothing ran, nothing to finish
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        interrupted = (
            exitstatus == pytest.ExitCode.INTERRUPTED
            or bool(session.shouldstop)
            or bool(session.shouldfail)
        )
        crashed = exitstatus == pytest.ExitCode.INTERNAL_ERROR
        try:
            self.recorder.finish(
                interrupted=interrupted,
                crashed=crashed,
                collected=self.collected,
                stopped=self.guard.stopped if self.guard is not None else (),
            )
        except CrucibleError as exc:  # the trials are stored; only the run's status is not
            self.recorder.warnings.append(f"could not finish the runs: {exc}")
        code = self.recorder.review(self.review_request)
        report_gates(self.config, self.recorder.gate_results())
        session.exitstatus = exit_status(session.exitstatus, code, bool(self.recorder.runs))
        unstored = self.recorder.store_full is not None or self.recorder.unstored
        # not all in the store: no success, and not a usage error (the analysis could not
        # save to a full store either)
        if unstored and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.USAGE_ERROR):
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        if self.crashes is not None and self.crashes.unstored() and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # its xdist report is a rerun
        self._after_experiments()

    def _after_experiments(self) -> None:
        """The after_experiment hooks of each run (an experiment's own one too: under xdist
        the controller imports its trial function's module to reach it)."""
        assert self.recorder is not None and self.guard is not None
        for outcome in self.recorder.runs.values():
            name = outcome.experiment
            plan = self.plans.get(name)
            experiment = plan.experiment if plan is not None else None
            module = self.guard.policies.get(name, {}).get("module")
            if experiment is None and module:
                try:
                    experiment = find_experiment(self.config, module, name)
                except Exception as exc:
                    self.recorder.errors.append(
                        f"Hooks(after_experiment=...) of experiment {name} did not run: the "
                        f"controller cannot import {module} ({type(exc).__name__}: {exc}); "
                        "implement pytest_crucible_after_experiment in conftest.py instead"
                    )
            self.recorder.errors.extend(
                after_experiment(self.config, experiment, name, outcome.run_id, self.store)
            )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.crashes is not None and self.recorder is not None:
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
        if self.recorder is not None and self.recorder.runs:
            write_results(terminalreporter, self.recorder, self.store, self.guard)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        # added here, not in __init__: a session whose set-up fails is never unconfigured
        logging.getLogger().addHandler(self.log_handler)
        logging_plugin = self.config.pluginmanager.get_plugin("logging-plugin")
        for name in ("caplog_handler", "report_handler"):
            handler = getattr(logging_plugin, name, None)
            if isinstance(handler, logging.Handler):
                handler.addFilter(self.log_filter)

    def pytest_unconfigure(self) -> None:
        logging.getLogger().removeHandler(self.log_handler)
        if self.recorder is not None:
            self.recorder.close_reviewer()
        self.loop.close()
        if self.controller:
            self.hold.release()  # done at the runs' finish; here when the session broke off
            self.store.close()
        if self.guard is not None:
            self.guard.close()
