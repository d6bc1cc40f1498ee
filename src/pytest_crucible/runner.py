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
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from .conditions import Condition
from .datasets import Item
from .llm.context import _CURRENT as _CALL_CONTEXT
from .trial import Trial, describe_exception

__all__ = [
    "CURRENT_TRIAL",
    "ActiveTrial",
    "BoundCondition",
    "ForeignTrialFilter",
    "LoopThread",
    "TrialLogHandler",
    "enter_trial",
    "run_trial_function",
]

T = TypeVar("T")

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

    def leave() -> None:
        _CALL_CONTEXT.reset(calls_token)
        CURRENT_TRIAL.reset(trial_token)

    return leave


class LoopThread:
    """An asyncio event loop running in a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

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
            await loop.shutdown_default_executor()

        asyncio.run_coroutine_threadsafe(cancel_pending(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


class BoundCondition:
    """The `condition` fixture: the trial's condition, recording outputs, timings and errors.

    Called from a sync trial function it returns the result (an async condition is run on the
    process loop); called from an async trial function it returns an awaitable (a sync
    condition then runs in a worker thread so the loop stays free).
    """

    def __init__(self, condition: Condition, trial: Trial, loop: LoopThread, *, awaited: bool):
        self._condition = condition
        self._trial = trial
        self._loop = loop
        self._awaited = awaited
        self.name = condition.name
        self.params = dict(condition.params)

    def __repr__(self) -> str:
        return f"<condition {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._awaited:
            return self._call_async(args, kwargs)
        if self._condition.is_async:
            return self._loop.run(self._call_async(args, kwargs))
        started = time.perf_counter()
        try:
            output = self._condition(*args, **kwargs)
        except BaseException as exc:
            self._trial.note_error(exc, time.perf_counter() - started)
            raise
        self._trial.note_call(output, time.perf_counter() - started)
        return output

    async def _call_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            if self._condition.is_async:
                output = await self._condition(*args, **kwargs)
            else:
                output = await asyncio.to_thread(self._condition, *args, **kwargs)
                if inspect.isawaitable(output):  # a sync callable that returned an awaitable
                    output = await output
        except BaseException as exc:
            self._trial.note_error(exc, time.perf_counter() - started)
            raise
        self._trial.note_call(output, time.perf_counter() - started)
        return output


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
            loop.run(_awaiting(fn(**kwargs)))
        else:
            fn(**kwargs)
    except BaseException as exc:
        if trial is not None and trial.error is None:
            trial.error = describe_exception(exc, where="trial function")
        raise
    finally:
        leave()


async def _awaiting(awaitable: Awaitable[T]) -> T:
    return await awaitable


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
