"""Timeouts of trials (`Experiment(timeout=...)`) and condition calls (`Condition(timeout=...)`).

Async code is cancelled at its timeout. A Python thread cannot be stopped, so sync code with
a timeout runs on a daemon thread of its own that the caller waits for: at the timeout the
caller raises `TrialTimeout` and moves on, and the thread is left to finish in the background
(its trial is `cancelled`, so code that checks `trial.cancelled` returns early). A daemon
thread never holds up the end of the session, nor takes a slot of a thread pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, TypeVar

from pytest_crucible.errors import TrialTimeout
from pytest_crucible.util.tracebacks import hide_library_frames

if TYPE_CHECKING:
    from pytest_crucible.run.trial import Trial

__all__ = [
    "await_within",
    "call_within",
    "condition_timed_out",
    "in_daemon_thread",
    "trial_timed_out",
]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames

T = TypeVar("T")


def in_daemon_thread(fn: Callable[[], T]) -> Future[T]:
    """Start `fn` on a daemon thread, in a copy of the caller's context (its trial)."""
    future: Future[T] = Future()
    context = contextvars.copy_context()

    def target() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = context.run(fn)
        except BaseException as exc:  # handed to the waiter, whatever it is
            future.set_exception(exc)
        else:
            future.set_result(result)

    threading.Thread(target=target, name="crucible-timed", daemon=True).start()
    return future


def call_within(fn: Callable[[], T], seconds: float, timed_out: Callable[[], TrialTimeout]) -> T:
    """`fn()` on a daemon thread, waited for at most `seconds`; then `timed_out()` is
    raised and the thread is left to finish."""
    future = in_daemon_thread(fn)
    try:
        return future.result(timeout=seconds)
    except TimeoutError:
        if future.done():  # fn raised a TimeoutError of its own
            raise
    raise timed_out()


async def await_within(
    awaitable: Awaitable[T], seconds: float, timed_out: Callable[[], TrialTimeout]
) -> T:
    """`await awaitable`, cancelled after `seconds`; then `timed_out()` is raised."""
    limit = asyncio.timeout(seconds)
    try:
        async with limit:
            return await awaitable
    except TimeoutError:
        if not limit.expired():  # the awaitable raised a TimeoutError of its own
            raise
    raise timed_out()


def trial_timed_out(trial: Trial, seconds: float) -> TrialTimeout:
    """The error of a trial that ran past `Experiment(timeout=seconds)`, noted on the trial
    (its stored error; `cancelled` from now on)."""
    message = (
        f"trial {trial.spec.test_id} of experiment {trial.spec.experiment} did not finish "
        f"within its timeout of {seconds:g} s (Experiment(timeout={seconds:g})); it is stored "
        "as failed and --crucible-retry-failed runs it again"
    )
    trial.cancel(f"timeout: {seconds:g} s passed")
    trial.error = {"type": "TrialTimeout", "message": message, "where": "timeout", "traceback": ""}
    return TrialTimeout(message)


def condition_timed_out(trial: Trial, condition: str, seconds: float) -> TrialTimeout:
    """The error of a condition call that ran past `Condition(timeout=seconds)`."""
    message = (
        f"condition {condition} did not return within its timeout of {seconds:g} s "
        f"(timeout={seconds:g} on the condition), in trial {trial.spec.test_id}"
    )
    return TrialTimeout(message)
