"""The `condition` fixture: a trial's condition bound to it, each call retried and recorded.

`BoundCondition` calls the condition (sync, or async on the process loop, `loop_thread.py`)
under its timeout (`timeouts.py`) and the trial's retry policy, through the retry engine
(`util/retrying.py`); `_ConditionCall` is one call, its retries included: the lifecycle hooks
around it (`ConditionHooks`), each attempt timed and its error noted on the trial.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable
from typing import Any, Protocol

from pytest_crucible.declare.conditions import Condition
from pytest_crucible.errors import TrialTimeout
from pytest_crucible.llm.context import ReplayClock, start_replay_clock
from pytest_crucible.run.loop_thread import LoopThread
from pytest_crucible.run.recovery import Classification, TrialSkipped
from pytest_crucible.run.stored_values import describe_exception
from pytest_crucible.run.timeouts import (
    await_within,
    call_within,
    condition_timed_out,
    in_daemon_thread,
)
from pytest_crucible.run.trial import Trial
from pytest_crucible.util.retrying import aretry_call, retry_call
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["BoundCondition", "ConditionHooks"]

# A user's error (a failed model call, a condition's) shows the user's frames, not the wrapper's.
__tracebackhide__ = hide_library_frames


class ConditionHooks(Protocol):
    """What the condition wrapper calls around each call: the session's lifecycle hooks
    (the experiment's `Hooks` and the `pytest_crucible_*` hooks). A hook that raises makes
    the wrapper raise a `HookError` naming it."""

    def before_condition(self, condition: Condition, trial: Trial) -> None: ...

    def after_condition(self, condition: Condition, trial: Trial, result: Any) -> None: ...

    def on_error(
        self, condition: Condition, trial: Trial, error: Exception, attempt: int
    ) -> str | None: ...


class _NoHooks:
    def before_condition(self, condition: Condition, trial: Trial) -> None:
        return None

    def after_condition(self, condition: Condition, trial: Trial, result: Any) -> None:
        return None

    def on_error(
        self, condition: Condition, trial: Trial, error: Exception, attempt: int
    ) -> str | None:
        return None


_OVERRIDES: dict[str | None, Classification | None] = {"retry": "retry", "fail": "permanent"}


class BoundCondition:
    """The `condition` fixture: the trial's condition, recording outputs, timings and errors.

    Called from a sync trial function it returns the result (an async condition is run on the
    process loop); called from an async trial function it returns an awaitable (a sync
    condition then runs in a worker thread so the loop stays free).

    Each call (`_ConditionCall`) runs under the trial's retry policy (`trial.recovery`),
    through the retry engine (`util/retrying.py`): a failed attempt is classified (an
    on_error hook may decide instead) and retried after the policy's delay; the lifecycle
    hooks run before and after the call.
    """

    def __init__(
        self,
        condition: Condition,
        trial: Trial,
        loop: LoopThread,
        *,
        awaited: bool,
        hooks: ConditionHooks | None = None,
    ):
        self._condition = condition
        self._trial = trial
        self._loop = loop
        self._awaited = awaited
        self._hooks: ConditionHooks = hooks or _NoHooks()
        self.name = condition.name
        self.params = dict(condition.params)

    def __repr__(self) -> str:
        return f"<condition {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._awaited:
            return self._call_async(args, kwargs)
        if self._condition.is_async:
            return self._loop.run(self._call_async(args, kwargs))
        call = _ConditionCall(self)
        seconds = self._condition.timeout

        def attempt() -> Any:
            call.attempt_starts()
            if seconds is None:
                return self._condition(*args, **kwargs)
            return call_within(lambda: self._condition(*args, **kwargs), seconds, self._timed_out)

        return call.succeeded(retry_call(attempt, call.failed))

    async def _call_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _ConditionCall(self)
        seconds = self._condition.timeout

        async def attempt() -> Any:
            call.attempt_starts()
            output = self._start(args, kwargs)
            if seconds is not None:
                output = await_within(output, seconds, self._timed_out)
            output = await output
            if inspect.isawaitable(output):  # a sync callable that returned an awaitable
                output = await output
            return output

        return call.succeeded(await aretry_call(attempt, call.failed))

    def _start(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[Any]:
        """One call as an awaitable: a sync condition runs in a thread (a daemon thread of
        its own when a timeout may leave it behind: a pool would keep it, and wait for it)."""
        if self._condition.is_async:
            return self._condition(*args, **kwargs)  # type: ignore[no-any-return]
        if self._condition.timeout is None and self._trial.timeout is None:
            return asyncio.to_thread(self._condition, *args, **kwargs)
        return asyncio.wrap_future(in_daemon_thread(lambda: self._condition(*args, **kwargs)))

    def _timed_out(self) -> TrialTimeout:
        assert self._condition.timeout is not None
        return condition_timed_out(self._trial, self.name, self._condition.timeout)

    def _replay_clock(self) -> ReplayClock | None:
        """A clock for the recorded durations of stored answers, when the trial's calls may
        be answered from a recording (replay, the call cache): a replayed call's latency is
        the one recorded, not the microseconds it took to look up."""
        context = self._trial.call_context
        if context is None or not getattr(context, "serves_stored", False):
            return None
        return start_replay_clock()


class _ConditionCall:
    """One call of a bound condition, its retries included: the lifecycle hooks around it,
    each attempt timed and its error noted on the trial, and the retry decisions (the trial's
    policy, or the on_error hook's answer) that the retry engine carries out."""

    __slots__ = ("_attempts", "_bound", "_clock", "_error_before", "_started", "_trial")

    def __init__(self, bound: BoundCondition) -> None:
        self._bound = bound
        self._trial = trial = bound._trial
        bound._hooks.before_condition(bound._condition, trial)
        self._attempts = trial.recovery.start_call()
        self._error_before = trial.error
        self._clock: ReplayClock | None = None
        self._started = 0.0

    def attempt_starts(self) -> None:
        self._clock = self._bound._replay_clock()
        self._started = time.perf_counter()

    def succeeded(self, output: Any) -> Any:
        trial, attempts = self._trial, self._attempts
        trial.note_call(output, _elapsed(self._started, self._clock))
        attempts.succeeded()
        trial.recovery.end_call(attempts)
        if attempts.count > 1:  # the errors that were retried are in trial.recovery
            trial.error = self._error_before
        self._bound._hooks.after_condition(self._bound._condition, trial, output)
        return output

    def failed(self, exc: BaseException) -> float | None:
        """After a failed attempt: seconds to wait before the next one, or None when the
        error stands (the engine re-raises it). Raises TrialSkipped for an on_error "skip",
        and the HookError or ClassifierError of a hook that broke."""
        self._trial.note_error(exc, _elapsed(self._started, self._clock))
        if not isinstance(exc, Exception):  # KeyboardInterrupt, cancellation, pytest outcomes
            return None
        trial, attempts, condition = self._trial, self._attempts, self._bound._condition
        try:
            answer = self._bound._hooks.on_error(condition, trial, exc, attempts.count + 1)
            if answer in ("skip", "abort"):
                attempts.failed(exc, classification="permanent")
            else:
                decision = attempts.failed(exc, classification=_OVERRIDES.get(answer))
        except Exception as broken:  # a hook or the user's classify hook raised
            if not attempts.done:
                attempts.failed(exc, classification="permanent")
            trial.recovery.end_call(attempts)
            trial.error = describe_exception(broken, where="hook")
            raise
        if answer == "skip":
            trial.recovery.end_call(attempts)
            reason = f"on_error hook answered 'skip' after {type(exc).__name__}: {exc}"
            raise TrialSkipped(reason) from exc
        if answer == "abort":
            trial.recovery.end_call(attempts)
            trial.stop_reason = (
                f"an on_error hook answered 'abort' for trial {trial.spec.test_id} of "
                f"experiment {trial.spec.experiment} ({type(exc).__name__}: {exc})"
            )
            return None
        if not decision.retry:
            trial.recovery.end_call(attempts)
            return None
        trial.log(
            "warning",
            f"condition {self._bound.name} failed on attempt {decision.attempt} "
            f"({type(exc).__name__}: {exc}); retrying in {decision.delay:.2f} s",
        )
        return decision.delay


def _elapsed(started: float, clock: ReplayClock | None) -> float:
    """Seconds since `started`, plus the recorded seconds of stored answers served since."""
    seconds = time.perf_counter() - started
    return seconds if clock is None else seconds + clock.stop()
