"""How each trial item starts on a worker: whether it may, with how many in flight, as what.

The worker (worker.py) asks this at an item's set-up and the prefetcher (prefetch.py) asks it
for the items it would start ahead: whether the trial must not start (its experiment was
stopped, its budget is spent), what a worker crash decided for it (crashes.py: recorded as
crashed, or run alone), how many trials may be in flight with it (lookahead.py), and its
running form, an `ActiveTrial` whose `trial.cancelled` says why it should stop.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING

import pytest

from pytest_crucible.run.bound_condition import BoundCondition
from pytest_crucible.run.runner import ActiveTrial
from pytest_crucible.run.trial import Trial
from pytest_crucible.session.crashes import CrashVerdict, crash_verdict
from pytest_crucible.session.items import ALONE_KEY, SPEC_KEY, TRIAL_KEY
from pytest_crucible.session.lifecycle import TrialHooks

if TYPE_CHECKING:
    from pytest_crucible.declare.plan import TrialSpec
    from pytest_crucible.run.loop_thread import LoopThread
    from pytest_crucible.session.link import ControllerLink
    from pytest_crucible.session.lookahead import Lookahead

__all__ = ["TrialStarts"]


class TrialStarts:
    """A worker's recipe for starting its trials.

    `session` is set when the session starts and `stopping` (why the session stops) when it
    ends: both make running trials stop.
    """

    def __init__(
        self, config: pytest.Config, link: ControllerLink, lookahead: Lookahead, loop: LoopThread
    ) -> None:
        self.config = config
        self.link = link
        self.plans = link.plans
        self.calls = link.calls
        self.lookahead = lookahead
        self.loop = loop
        self.stopping: str | None = None  # why the session stops (trial.cancelled)
        self.session: pytest.Session | None = None
        self._trial_hooks: dict[str, TrialHooks] = {}

    def make_active(self, item: pytest.Item) -> ActiveTrial:
        spec = item.stash[SPEC_KEY]
        plan = self.plans[spec.experiment]
        trial = Trial(spec, plan)
        trial.call_context = self.calls.context_for(spec)
        trial.stop_check = functools.partial(self.stop_reason, spec)
        condition = plan.experiment.conditions[spec.condition]
        awaited = inspect.iscoroutinefunction(item.obj)  # type: ignore[attr-defined]
        hooks = self._trial_hooks.get(spec.experiment)
        if hooks is None:
            hooks = self._trial_hooks[spec.experiment] = TrialHooks(
                self.config, plan.experiment.hooks
            )
        bound = BoundCondition(condition, trial, self.loop, awaited=awaited, hooks=hooks)
        return ActiveTrial(trial, bound, spec.item)

    def limit(self, item: pytest.Item) -> int:
        """How many trials may be in flight when `item` runs (lookahead.py)."""
        spec = item.stash[SPEC_KEY]
        return self.lookahead.limit(item, spec, self.plans[spec.experiment].experiment.concurrency)

    # -- stops --------------------------------------------------------------------------------

    def stop_reason(self, spec: TrialSpec) -> str | None:
        """Why a running trial should stop (`trial.cancelled`): the session stops (Ctrl-C,
        -x), its experiment was stopped (a breaker, an abort, a full disk: the stop file
        under xdist), or its budget is spent."""
        if self.stopping is not None:
            return self.stopping
        session_stop = self.session is not None and (
            self.session.shouldstop or self.session.shouldfail
        )
        if session_stop:
            return f"the session stops ({session_stop})"
        return self._experiment_stop(spec)

    def skip_reason(self, item: pytest.Item) -> str | None:
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

    # -- after a worker crashed -----------------------------------------------------------------

    def _crash_verdict(self, item: pytest.Item) -> CrashVerdict | None:
        """After a worker crashed (crashes.py): record this trial as crashed, or run it
        alone, or None (as ever)."""
        crashes = self.link.crashes()
        if not crashes:
            return None
        follows = self.lookahead.follows
        return crash_verdict(
            item.nodeid, crashes, self.limit(item), lambda nodeid, n: follows(item, nodeid, n)
        )

    def apply_crash_verdict(self, item: pytest.Item) -> None:
        verdict = self._crash_verdict(item)
        if verdict is None:
            return
        if verdict.alone:
            item.stash[ALONE_KEY] = True
            return
        spec = item.stash[SPEC_KEY]
        trial = item.stash[TRIAL_KEY] = Trial(spec, self.plans[spec.experiment])
        pytest.fail(verdict.record_as_crashed(trial), pytrace=False)

    def runs_alone(self, item: pytest.Item) -> bool:
        """Whether a trial must not be started ahead: it runs with no other in flight."""
        return bool(self.link.crashes()) and self._crash_verdict(item) is not None
