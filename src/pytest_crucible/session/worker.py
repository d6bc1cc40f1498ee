"""The worker: collects the trials and runs them (worker role).

Registered in every process that collects: each xdist worker, and the single process of a
run without xdist (beside the controller). It plans each experiment, parametrizes one item
per trial, gives each item its running trial at set-up (trial_starts.py), runs trials (many
in flight, see prefetch.py and trial_call.py), and attaches each trial's result to its report.
In a run joined by many processes it runs only the trials it claimed (joined_worker.py). What
it needs from the controller, and what it hands back at its end, goes through a
`ControllerLink` (link.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.run.current_trial import ForeignTrialFilter, TrialLogHandler
from pytest_crucible.run.loop_thread import LoopThread
from pytest_crucible.run.recovery import TrialSkipped
from pytest_crucible.run.runner import run_trial_function
from pytest_crucible.run.trial import Trial
from pytest_crucible.session.async_fixtures import on_session_loop, runs_on_session_loop
from pytest_crucible.session.collection import TrialCollection
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
    TRIAL_KEY,
    direct_arguments,
    slot_of,
    spec_of,
)
from pytest_crucible.session.joined_worker import JoinedWorker
from pytest_crucible.session.joining import joined_claims
from pytest_crucible.session.link import ControllerLink, WorkerResults
from pytest_crucible.session.lookahead import Lookahead
from pytest_crucible.session.output import OutputRouter, RoutedPhases
from pytest_crucible.session.payload import TrialPayloads
from pytest_crucible.session.prefetch import Prefetcher
from pytest_crucible.session.selection import foreign_anyio_backend
from pytest_crucible.session.trial_call import (
    AheadJournal,
    add_output_sections,
    fail_for_missing_metrics,
    run_ahead,
)
from pytest_crucible.session.trial_starts import TrialStarts

if TYPE_CHECKING:
    from collections.abc import Generator


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
        self.starts = TrialStarts(config, link, self.lookahead, self.loop)
        # --crucible-join: claims in the store (not for a run that runs nothing)
        runs_trials = not (self.calls.estimating or config.option.collectonly)
        self.claims = joined_claims(config, link) if runs_trials else None
        self.joined: JoinedWorker | None = None
        if self.claims is not None:
            self.joined = JoinedWorker(
                self.claims, config, self.plans, self.collection, self.lookahead
            )
        self.prefetcher = Prefetcher(
            self.loop,
            self.starts.make_active,
            self.lookahead.upcoming if self.joined is None else self.joined.upcoming,
            self._may_start,
            self.starts.runs_alone,
            on_finished=AheadJournal(link, self.plans, self.payloads).finished,
        )
        self._direct: dict[Any, tuple[str, ...]] = {}
        self._collected: dict[str, dict[str, int]] = {}  # trials to run, for the display
        self._current: Trial | None = None  # the trial of the item in its phases now
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
        if self.joined is not None and items:
            self.joined.enter(items)
        return (yield)

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

    # -- running -------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> bool | None:
        """--crucible-join: a trial another process claimed (or stored) is neither run nor
        reported here; `sweep` comes back to it after the loop."""
        if self.joined is None or self.joined.claimed(item):
            return None
        return True

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        result = yield
        if self.joined is not None:
            self.joined.sweep(session)
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Give the trial function its running trial before pytest sets up fixtures."""
        if spec_of(item) is None:
            return
        active = self.prefetcher.active_for(item)
        if active is None:
            reason = self.starts.skip_reason(item)
            if reason is not None:
                pytest.skip(reason)
            self.starts.apply_crash_verdict(item)
            active = self.starts.make_active(item)
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

    def _may_start(self, item: pytest.Item) -> bool:
        if self.starts.skip_reason(item) is not None:
            return False
        return self.joined is None or self.joined.claimed(item)

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
        limit = self.starts.limit(pyfuncitem)
        if pyfuncitem.stash.get(ALONE_KEY, False):
            limit = 1
        try:
            if limit > 1:
                run_ahead(self.prefetcher, self.output, pyfuncitem, function, kwargs, limit)
            else:
                run_trial_function(function, kwargs, trial, self.loop)
        except TrialSkipped as exc:  # an on_error hook answered "skip"
            pytest.skip(exc.reason)
        finally:
            add_output_sections(self.output, pyfuncitem, trial)
        missing = trial.missing_metrics()
        if missing:
            fail_for_missing_metrics(trial, missing)
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
        self.session = self.starts.session = session
        # added here, not in __init__: a session whose set-up fails is never unconfigured
        logging.getLogger().addHandler(self.log_handler)
        filter_log_capture(self.config, self.log_filter)

    # A wrapper: its first half runs before every plain pytest_sessionfinish, so that the
    # controller's (a plain one) has what this worker hands over.
    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, exitstatus: int) -> Generator[None, None, None]:
        self.starts.stopping = (
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
