"""Running trials: one background event loop per process, conditions sync or async.

Async trial functions and async conditions run on a background event loop owned by the
process (`LoopThread`); sync conditions called from async code run on the loop's thread pool.
Keeping a loop alive across items is what lets many trials be in flight per process: a
scheduler can start trials ahead of pytest's call phase and await them there.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pytest_crucible.declare.conditions import Condition
from pytest_crucible.declare.datasets import Item
from pytest_crucible.declare.validation import MetricValidationError
from pytest_crucible.errors import TrialTimeout
from pytest_crucible.llm.context import _CURRENT as _CALL_CONTEXT
from pytest_crucible.llm.context import ReplayClock, start_replay_clock, trial_result_sink
from pytest_crucible.run.recovery import Classification, TrialSkipped
from pytest_crucible.run.timeouts import (
    await_within,
    call_within,
    condition_timed_out,
    in_daemon_thread,
    trial_timed_out,
)
from pytest_crucible.run.trial import Trial, describe_exception
from pytest_crucible.util.retrying import aretry_call, retry_call
from pytest_crucible.util.threads import DaemonThreadPool
from pytest_crucible.util.tracebacks import hide_library_frames

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

T = TypeVar("T")

# A user's error (a failed model call, a condition's) shows the user's frames, not the wrapper's.
__tracebackhide__ = hide_library_frames

# The trial whose code is running in this context. asyncio tasks and `asyncio.to_thread`
# copy the context, so concurrent trials each see their own: log records and model calls
# made anywhere below a trial are attributed to it, whichever item pytest is reporting.
CURRENT_TRIAL: contextvars.ContextVar[Trial | None] = contextvars.ContextVar(
    "crucible_trial", default=None
)


def enter_trial(trial: Trial | None) -> Callable[[], None]:
    """Make `trial` the current one in this context (for log records and model calls);
    returns the function that restores the previous one."""
    trial_token = CURRENT_TRIAL.set(trial)
    calls_token = _CALL_CONTEXT.set(trial.call_context if trial is not None else None)
    # library code (ensembles, hedging) keeps its records on the trial (llm/context.py)
    leave_sink = trial_result_sink(trial)

    def leave() -> None:
        leave_sink()
        _CALL_CONTEXT.reset(calls_token)
        CURRENT_TRIAL.reset(trial_token)

    return leave


class LoopThread:
    """An asyncio event loop running in a daemon thread, started on first use.

    Sync conditions of async trials run in its default executor, whose threads are daemons
    too (util/threads.py): a call still hanging when pytest gave up on its item
    (pytest-timeout) does not keep the process alive at its end.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._executor = DaemonThreadPool(_CALL_THREADS, thread_name_prefix="crucible-call")

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                loop.set_default_executor(self._executor)
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    _serve_until_closed(loop)

                self._thread = threading.Thread(target=serve, name="crucible-loop", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule a coroutine on the loop; the returned future can be waited on anywhere."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result in the calling thread."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("LoopThread.run called from its own loop; await instead")
        return self.submit(coro).result()

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def close(self) -> None:
        """Cancel what is still pending, stop the loop and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def cancel_pending() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()  # closes backends' async clients on this loop

        asyncio.run_coroutine_threadsafe(cancel_pending(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._executor.shutdown(wait=False, cancel_futures=True)  # a hung call is abandoned
        loop.close()


# as ThreadPoolExecutor's default size (asyncio's default executor)
_CALL_THREADS = min(32, (os.cpu_count() or 1) + 4)


def _serve_until_closed(loop: asyncio.AbstractEventLoop) -> None:
    """Run the loop until `close()` stops it. A task that raises SystemExit or
    KeyboardInterrupt (a condition's `sys.exit()`, an interrupt raised by user code) stores it
    as its result, then asyncio lets it escape `run_forever`: serving on keeps the loop alive,
    so the task's waiter gets the exception (as the trial's failure or a graceful stop)
    instead of waiting forever on a dead loop."""
    while True:
        try:
            loop.run_forever()
        except (SystemExit, KeyboardInterrupt):
            continue
        return


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


class TrialLogHandler(logging.Handler):
    """Keeps log records emitted inside a trial with that trial (its stored `logs`)."""

    def emit(self, record: logging.LogRecord) -> None:
        trial = CURRENT_TRIAL.get()
        if trial is None:
            return
        level = record.levelname.lower()
        if level not in ("debug", "info", "warning", "error", "critical"):
            level = "info"
        try:
            trial.log(level, record.getMessage(), logger=record.name)
        except Exception:  # a log call must never fail the trial
            self.handleError(record)


class ForeignTrialFilter(logging.Filter):
    """For pytest's capture handlers: drop records of trials that run concurrently. pytest
    would file them under whichever item is capturing at the time; they are kept with their
    own trial (`TrialLogHandler`) and shown in that trial's report instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        trial = CURRENT_TRIAL.get()
        return trial is None or not trial.concurrent
