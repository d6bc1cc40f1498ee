"""The worker: collects the trials and runs them (worker role).

Registered in every process that collects: each xdist worker, and the single process of a
run without xdist (beside the controller). It plans each experiment, parametrizes one item
per trial, gives each item its running trial at set-up, runs trials (many in flight, see
prefetch.py), and attaches each trial's result to its report. What it needs from the
controller, and what it hands back at its end, goes through a `ControllerLink` (link.py).
"""

from __future__ import annotations

import functools
import inspect
import logging
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.errors import CrucibleError
from pytest_crucible.run.bound_condition import BoundCondition
from pytest_crucible.run.current_trial import ForeignTrialFilter, TrialLogHandler
from pytest_crucible.run.loop_thread import LoopThread
from pytest_crucible.run.recovery import TrialSkipped
from pytest_crucible.run.runner import ActiveTrial, run_trial_function
from pytest_crucible.run.trial import Trial
from pytest_crucible.session.async_fixtures import on_session_loop, runs_on_session_loop
from pytest_crucible.session.collection import TrialCollection
from pytest_crucible.session.crashes import CrashVerdict, crash_verdict
from pytest_crucible.session.heap import freeze_collected
from pytest_crucible.session.internals import (
    argument_names,
    attach_result,
    filter_log_capture,
    give_trial_arguments,
    mark_ran_alone,
    mark_skipped_trial,
    requesting_item,
)
from pytest_crucible.session.items import (
    ALONE_KEY,
    FUNCTION_KEY,
    SPEC_KEY,
    TRIAL_KEY,
    direct_arguments,
    slot_of,
    spec_of,
)
from pytest_crucible.session.joining import joined_claims
from pytest_crucible.session.lifecycle import TrialHooks
from pytest_crucible.session.link import ControllerLink, WorkerResults
from pytest_crucible.session.lookahead import Lookahead
from pytest_crucible.session.output import OutputRouter, RoutedPhases
from pytest_crucible.session.payload import TrialPayloads
from pytest_crucible.session.prefetch import Prefetcher, Started
from pytest_crucible.session.selection import foreign_anyio_backend
from pytest_crucible.store.environment import capture_environment

if TYPE_CHECKING:
    from collections.abc import Generator

    from pytest_crucible.declare.plan import TrialSpec


__all__ = ["STOP_GRACE_S", "Worker"]

# Seconds that trials already running get to finish when the session stops early.
STOP_GRACE_S = 10.0


class Worker:
    def __init__(self, config: pytest.Config, link: ControllerLink) -> None:
        self.config = config
        self.link = link
        self.plans = link.plans
        self.calls = link.calls
        self.loop = LoopThread()
        self.payloads = TrialPayloads(self.plans, link.worker_id)
        self.collection = TrialCollection(config, link)
        self.lookahead = Lookahead(
            config.getoption("crucible_concurrency"),
            owns_every_item=link.owns_every_item,
            warn=link.warn,
        )
        self.prefetcher = Prefetcher(
            self.loop,
            self._make_active,
            self._upcoming,
            self._may_start,
            self._runs_alone,
            on_finished=self._journal_finished,
        )
        # --crucible-join: claims in the store (not for a run that runs nothing)
        runs_trials = not (self.calls.estimating or config.option.collectonly)
        self.claims = joined_claims(config, link) if runs_trials else None
        self._journal_failed = False
        self._stopping: str | None = None  # why the session stops (trial.cancelled)
        self._direct: dict[Any, tuple[str, ...]] = {}
        self._collected: dict[str, dict[str, int]] = {}  # trials to run, for the display
        self._current: Trial | None = None  # the trial of the item in its phases now
        self._trial_hooks: dict[str, TrialHooks] = {}
        self.session: pytest.Session | None = None
        self.log_handler = TrialLogHandler()
        self.log_filter = ForeignTrialFilter()
        self.output = OutputRouter()
        phases = RoutedPhases(self.output, self.prefetcher.pending)
        config.pluginmanager.register(phases, "crucible-output")

    # -- collection ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> Generator[None, None, None]:
        self.collection.select(items)
        if self.claims is not None and items:
            self._join(items)
        return (yield)

    def _join(self, items: list[pytest.Item]) -> None:
        """Create or join the shared runs (--crucible-join) before any trial starts."""
        assert self.claims is not None
        root = self.config.rootpath
        try:
            problems = self.claims.enter(self.plans, lambda: capture_environment(root))
        except CrucibleError as exc:
            problems = [f"--crucible-join={self.claims.key}: {exc}"]
        if problems:
            self.collection.refuse(items, problems)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # grouped once every plugin has selected (--lf deselects after the other plugins):
        # the xdist scheduler groups the ids collected in the end (lookahead.py)
        self.collection.group(session.items)
        self.lookahead.set_items(session.items)
        for item in session.items:
            spec = spec_of(item)
            if spec is not None:
                conditions = self._collected.setdefault(spec.experiment, {})
                conditions[spec.condition] = conditions.get(spec.condition, 0) + 1
        self.link.watch(self.snapshot)
        if self.calls.estimating:
            for plan in self.plans.values():
                self.calls.estimate(plan, self.lookahead.concurrency(plan.experiment.concurrency))
        freeze_collected()  # the items live as long as the session (heap.py)

    # -- running -------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> bool | None:
        """--crucible-join: a trial another process claimed (or stored) is neither run nor
        reported here; `sweep` comes back to it after the loop."""
        if self.claims is None or self._claimed(item):
            return None
        return True

    def _claimed(self, item: pytest.Item) -> bool:
        """Whether this process holds `item`'s claim, or gets it now with the items that
        follow it (a batch: the trials the prefetcher would start with it)."""
        assert self.claims is not None
        return self.claims.mine(item, lambda: self._upcoming(item, self._claim_batch() - 1))

    def _claim_batch(self) -> int:
        return max(4, 2 * self.lookahead.concurrency(None))

    def _upcoming(self, item: pytest.Item, count: int) -> list[pytest.Item]:
        """The next `count` trial items after `item` that this process may start
        (lookahead.py; in a joined run, joining.py passes over the others' and its own
        finished ones)."""
        if self.claims is None:
            return self.lookahead.upcoming(item, count)
        return self.claims.next_to_start(self.lookahead.following(item), count)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        result = yield
        if self.claims is not None:
            self.claims.sweep(self._run_taken_over, self._sweep_stops, self._claim_batch())
        return result

    def _run_taken_over(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        item.ihook.pytest_runtest_protocol(item=item, nextitem=nextitem)

    def _sweep_stops(self) -> bool:
        return self.session is not None and bool(self.session.shouldstop or self.session.shouldfail)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Give the trial function its running trial before pytest sets up fixtures."""
        if spec_of(item) is None:
            return
        active = self.prefetcher.active_for(item)
        if active is None:
            reason = self._skip_reason(item)
            if reason is not None:
                pytest.skip(reason)
            self._apply_crash_verdict(item)
            active = self._make_active(item)
        item.stash[TRIAL_KEY] = self._current = active.trial
        item.stash[FUNCTION_KEY] = item.obj  # type: ignore[attr-defined]
        slot = slot_of(item)
        assert slot is not None  # a trial item: it has a spec
        slot.active = active
        give_trial_arguments(item, self._direct_arguments(item), slot)

    def _direct_arguments(self, item: pytest.Item) -> tuple[str, ...]:
        function = item.obj  # type: ignore[attr-defined]
        known = self._direct.get(function)
        if known is None:
            known = self._direct[function] = direct_arguments(item)
        return known

    def _crash_verdict(self, item: pytest.Item) -> CrashVerdict | None:
        """After a worker crashed (crashes.py): record this trial as crashed, or run it
        alone, or None (as ever)."""
        crashes = self.link.crashes()
        if not crashes:
            return None
        follows = self.lookahead.follows
        return crash_verdict(
            item.nodeid, crashes, self._limit(item), lambda nodeid, n: follows(item, nodeid, n)
        )

    def _limit(self, item: pytest.Item) -> int:
        """How many trials may be in flight when `item` runs (lookahead.py)."""
        spec = item.stash[SPEC_KEY]
        return self.lookahead.limit(item, spec, self.plans[spec.experiment].experiment.concurrency)

    def _apply_crash_verdict(self, item: pytest.Item) -> None:
        verdict = self._crash_verdict(item)
        if verdict is None:
            return
        if verdict.alone:
            item.stash[ALONE_KEY] = True
            return
        spec = item.stash[SPEC_KEY]
        trial = item.stash[TRIAL_KEY] = Trial(spec, self.plans[spec.experiment])
        pytest.fail(verdict.record_as_crashed(trial), pytrace=False)

    def _runs_alone(self, item: pytest.Item) -> bool:
        """Whether a trial must not be started ahead: it runs with no other in flight."""
        return bool(self.link.crashes()) and self._crash_verdict(item) is not None

    def _make_active(self, item: pytest.Item) -> ActiveTrial:
        spec = item.stash[SPEC_KEY]
        plan = self.plans[spec.experiment]
        trial = Trial(spec, plan)
        trial.call_context = self.calls.context_for(spec)
        trial.stop_check = functools.partial(self._stop_reason, spec)
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
        journal = self.link.journal
        if journal is None or self._journal_failed:
            return
        try:
            result = self.payloads.for_journal(started)
            if result is None:
                return
            run_id = self.link.inputs.run_id_for(result.experiment)
            header = None
            if not journal.has_header(run_id):
                header = self.plans[result.experiment].header()
            journal.append(run_id, header, result, self.link.worker_id)
        except Exception as exc:  # the report still brings the result: warn, go on
            self._journal_failed = True
            self.link.warn(
                f"could not journal finished trials ({type(exc).__name__}: {exc}); they are "
                "stored when their items report, and a kill before that loses them"
            )

    def _stop_reason(self, spec: TrialSpec) -> str | None:
        """Why a running trial should stop (`trial.cancelled`): the session stops (Ctrl-C,
        -x), its experiment was stopped (a breaker, an abort, a full disk: the stop file
        under xdist), or its budget is spent."""
        if self._stopping is not None:
            return self._stopping
        session_stop = self.session is not None and (
            self.session.shouldstop or self.session.shouldfail
        )
        if session_stop:
            return f"the session stops ({session_stop})"
        return self._experiment_stop(spec)

    def _may_start(self, item: pytest.Item) -> bool:
        if self._skip_reason(item) is not None:
            return False
        return self.claims is None or self._claimed(item)

    def _skip_reason(self, item: pytest.Item) -> str | None:
        """Why a trial must not start: its experiment was stopped (a breaker, an abort;
        see guard.py), or its budget is spent."""
        return self._experiment_stop(item.stash[SPEC_KEY])

    def _experiment_stop(self, spec: TrialSpec) -> str | None:
        reason = self.link.stopped().get(spec.experiment)
        if reason is not None:
            if "continue it with" in reason:  # a cancelled run says how (cancelling.py)
                return f"stopped: {reason}"
            return f"stopped: {reason}; continue the run with --crucible-resume"
        return self.calls.skip_reason(spec)

    # Outermost: an async plugin (pytest-asyncio, anyio) then sees a sync fixture and leaves
    # it alone (async_fixtures.py).
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        """An async fixture a trial asks for is set up on the session's loop."""
        function = fixturedef.func
        if not runs_on_session_loop(function, request):
            return (yield)
        item = requesting_item(request)
        if item is None or spec_of(item) is None:
            return (yield)
        fixturedef.func = on_session_loop(function, self.loop)  # type: ignore[misc]
        try:
            return (yield)
        finally:
            fixturedef.func = function  # type: ignore[misc]

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        """Empty the slot so that a finished trial is not kept alive by its item."""
        slot = slot_of(item)
        self._current = None
        if slot is not None and TRIAL_KEY in item.stash:
            del item.stash[TRIAL_KEY]
            slot.active = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        trial = pyfuncitem.stash.get(TRIAL_KEY, None)
        if trial is None:
            return None
        foreign = foreign_anyio_backend(pyfuncitem.funcargs)
        if foreign is not None:  # anyio would run it on trio; we never would
            pytest.fail(foreign, pytrace=False)
        kwargs = {name: pyfuncitem.funcargs[name] for name in argument_names(pyfuncitem)}
        function = pyfuncitem.stash.get(FUNCTION_KEY, pyfuncitem.obj)
        limit = self._limit(pyfuncitem)
        if pyfuncitem.stash.get(ALONE_KEY, False):
            limit = 1
        try:
            if limit > 1:
                self._run_ahead(pyfuncitem, function, kwargs, limit)
            else:
                run_trial_function(function, kwargs, trial, self.loop)
        except TrialSkipped as exc:  # an on_error hook answered "skip"
            pytest.skip(exc.reason)
        finally:
            self._add_output_sections(pyfuncitem, trial)
        missing = trial.missing_metrics()
        if missing:
            self._fail_for_missing_metrics(trial, missing)
        return True

    def _run_ahead(
        self, item: pytest.Function, function: Any, kwargs: dict[str, Any], limit: int
    ) -> None:
        slot = slot_of(item)
        assert slot is not None and slot.active is not None
        self.output.install()
        try:
            self.prefetcher.run(item, function, slot.active, kwargs, limit)
        finally:
            self.output.uninstall()

    def _add_output_sections(self, item: pytest.Function, trial: Trial) -> None:
        if trial.concurrent and trial.captured_log():
            item.add_report_section("call", "log", trial.captured_log())
        for stream, text in self.output.take(trial).items():
            item.add_report_section("call", stream, text)

    @staticmethod
    def _fail_for_missing_metrics(trial: Trial, missing: list[str]) -> None:
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

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        spec = spec_of(item)
        if spec is None:
            return report
        if call.when == "setup" and item.stash.get(ALONE_KEY, False):
            mark_ran_alone(report)
        if call.when == "setup" and report.skipped:
            mark_skipped_trial(report, spec.experiment, spec.condition)
        if call.when == "call" or (call.when == "setup" and report.failed):
            self._current = None  # finished: no longer in flight
            trial = item.stash.get(TRIAL_KEY, None) or Trial(spec, self.plans[spec.experiment])
            exception = call.excinfo.value if call.excinfo is not None else None
            payload = self.payloads.for_report(
                trial, outcome=report.outcome, when=call.when, exception=exception
            )
            attach_result(report, payload)
            if self.claims is not None:
                self.claims.finished(spec.key)
        return report

    def snapshot(self) -> dict[str, Any]:
        """What this worker collected and runs now, as the progress display reads it (from
        another thread: beacon.py)."""
        running = [active.trial for active in self.prefetcher.running()]
        current = self._current
        if current is not None and current not in running:
            running.append(current)
        return {
            "collected": self._collected,
            "running": [
                [t.spec.experiment, t.spec.condition, t.spec.test_id, t.progress_state]
                for t in running
            ],
        }

    # -- session start and end -------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session
        # added here, not in __init__: a session whose set-up fails is never unconfigured
        logging.getLogger().addHandler(self.log_handler)
        filter_log_capture(self.config, self.log_filter)

    # A wrapper: its first half runs before every plain pytest_sessionfinish, so that the
    # controller's (a plain one) has what this worker hands over.
    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, exitstatus: int) -> Generator[None, None, None]:
        self._stopping = (
            "Ctrl-C: the session is stopping"
            if exitstatus == pytest.ExitCode.INTERRUPTED
            else "the session is ending"
        )
        unreported = self._stop_prefetched()
        if self.claims is not None:
            self.claims.close()
        results = WorkerResults(
            unreported=unreported,
            collected=self.collection.collected,
            estimates=self.calls.estimates,
        )
        self.link.hand_over(results)
        return (yield)

    def _stop_prefetched(self) -> list[dict[str, Any]]:
        """Stop starting trials; those that finished ahead of an item pytest never ran
        (after -x, Ctrl-C, a budget) are handed over all the same."""
        try:
            finished = self.prefetcher.stop(STOP_GRACE_S)
        except KeyboardInterrupt:  # a second Ctrl-C: give up waiting at once
            finished = self.prefetcher.stop(0.0)
        if self.claims is not None:
            for started in finished:
                self.claims.finished(started.active.trial.spec.key)
        return [self.payloads.for_started(started) for started in finished]

    def pytest_unconfigure(self) -> None:
        logging.getLogger().removeHandler(self.log_handler)
        self.loop.close()
