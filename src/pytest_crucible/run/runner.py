"""Running a trial function: sync, or async on the process loop, rerun after invalid metrics.

`run_trial_function` makes the trial the current one (`current_trial.py`), calls the trial
function under the experiment's timeout (`timeouts.py`), on the process's event loop when it
is async (`loop_thread.py`), and records its error on the trial; the `condition` it calls is a
`BoundCondition` (`bound_condition.py`).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pytest_crucible.declare.datasets import Item
from pytest_crucible.declare.validation import MetricValidationError
from pytest_crucible.run.bound_condition import BoundCondition, ConditionHooks
from pytest_crucible.run.current_trial import (
    CURRENT_TRIAL,
    ForeignTrialFilter,
    TrialLogHandler,
    enter_trial,
)
from pytest_crucible.run.loop_thread import LoopThread
from pytest_crucible.run.stored_values import describe_exception
from pytest_crucible.run.timeouts import await_within, call_within, trial_timed_out
from pytest_crucible.run.trial import Trial
from pytest_crucible.util.retrying import aretry_call, retry_call
from pytest_crucible.util.tracebacks import hide_library_frames

# The names before the split stay importable from here for the old path `pytest_crucible.runner`
# (util/moved.py); our own code imports them from their modules.
__all__ = [
    "CURRENT_TRIAL",
    "ActiveTrial",
    "BoundCondition",
    "ConditionHooks",
    "ForeignTrialFilter",
    "LoopThread",
    "TrialLogHandler",
    "enter_trial",
    "run_trial_async",
    "run_trial_function",
    "run_trial_sync",
]

# A user's error (a trial function's) shows the user's frames, not the runner's.
__tracebackhide__ = hide_library_frames


@dataclass(frozen=True)
class ActiveTrial:
    """What a running trial function receives as `trial`, `condition` and `item`."""

    trial: Trial
    condition: BoundCondition
    item: Item


def run_trial_function(
    fn: Callable[..., Any], kwargs: dict[str, Any], trial: Trial | None, loop: LoopThread
) -> None:
    """Call the trial function (sync, or async on the process loop); if it raises, the error
    is recorded on the trial (unless the condition already recorded one) and re-raised."""
    leave = enter_trial(trial)
    try:
        if inspect.iscoroutinefunction(fn):
            # the loop runs the coroutine in a copy of this context: it sees the trial
            loop.run(run_trial_async(fn, kwargs, trial))
        else:
            run_trial_sync(fn, kwargs, trial)
    except BaseException as exc:
        if trial is not None and trial.error is None:
            trial.error = describe_exception(exc, where="trial function")
        raise
    finally:
        leave()


def run_trial_sync(fn: Callable[..., Any], kwargs: dict[str, Any], trial: Trial | None) -> None:
    """Call a sync trial function, then complete the trial's metrics (schema defaults).
    Metrics that failed validation under on_invalid="retry" rerun it, as the retry policy
    allows. Under the experiment's timeout it runs on a thread of its own, left behind when
    the time is up (timeouts.py)."""

    def attempt() -> None:
        fn(**kwargs)
        if trial is not None:
            trial.complete_metrics()

    def run() -> None:
        retry_call(attempt, lambda exc: _rerun_delay(trial, exc))

    seconds = trial.timeout if trial is not None else None
    if trial is None or seconds is None:
        run()
    else:
        call_within(run, seconds, lambda: trial_timed_out(trial, seconds))


async def run_trial_async(
    fn: Callable[..., Awaitable[Any]], kwargs: dict[str, Any], trial: Trial | None
) -> None:
    """`run_trial_sync` for an async trial function (on the process loop), cancelled at the
    experiment's timeout."""

    async def attempt() -> None:
        await fn(**kwargs)
        if trial is not None:
            await trial.acomplete_metrics()

    run = aretry_call(attempt, lambda exc: _rerun_delay(trial, exc))
    seconds = trial.timeout if trial is not None else None
    if trial is None or seconds is None:
        await run
    else:
        await await_within(run, seconds, lambda: trial_timed_out(trial, seconds))


def _rerun_delay(trial: Trial | None, exc: BaseException) -> float | None:
    """After the trial function raised: the delay before running it again (its metrics
    failed validation, retryably, and the policy allows it), or None (the error stands)."""
    if trial is None or not isinstance(exc, MetricValidationError) or not exc.retryable:
        return None
    delay = trial.recovery.validation_failed(exc)
    if delay is None:
        return None
    trial.log("warning", f"{exc}; running the trial again in {delay:.2f} s")
    trial.rerun()
    return delay
