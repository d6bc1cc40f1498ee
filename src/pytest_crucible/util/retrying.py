"""The retry engine: the only place where failed attempts are retried (on tenacity).

`retry_call(fn, decide)` calls `fn()` until it returns or `decide(error)` says stop; its async
twin `aretry_call` awaits `fn()` and sleeps with `asyncio.sleep`. Both run one tenacity
configuration (`Retrying` and `AsyncRetrying`). What to retry and how long to wait is the
caller's `decide`, usually a declared policy's (`ErrorHandling.decide`, in `declare/`):

- `decide(error)` returns the seconds to wait before the next attempt, or None: the error
  stands and is re-raised as it was (traceback and chained context unchanged, since `decide`
  runs inside the `except` that caught it; an exception `decide` raises replaces it).
- The first attempt is a plain call: tenacity's loop, which costs tens of microseconds, starts
  only when a retry is due, so a call that works at once pays nothing for being retryable.

Condition calls (`run/bound_condition.py`), trial reruns after invalid metrics and model calls
(`llm/_backend_calls.py`) all retry through here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar, cast

import tenacity

from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Decide", "aretry_call", "retry_call"]

__tracebackhide__ = hide_library_frames

T = TypeVar("T")

Decide = Callable[[BaseException], float | None]


class _Retry(Exception):
    """What tenacity sees of a failed attempt that `decide` retries: the wait before the next."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


def _asked_delay(state: tenacity.RetryCallState) -> float:
    failure = state.outcome.exception() if state.outcome is not None else None
    return failure.delay if isinstance(failure, _Retry) else 0.0


# tenacity's part: wait the delay `decide` gave, then hand out the next attempt; never stop
# on its own (`decide` does)
_SETTINGS: dict[str, Any] = {
    "stop": tenacity.stop_never,
    "wait": _asked_delay,
    "retry": tenacity.retry_if_exception_type(_Retry),
    "reraise": True,
}


def retry_call(
    fn: Callable[[], T], decide: Decide, *, sleep: Callable[[float], object] | None = None
) -> T:
    """`fn()` under `decide` (see the module doc); `sleep` defaults to `time.sleep`."""
    attempts: Iterator[tenacity.AttemptManager] | None = None
    while True:
        try:
            return fn()
        except BaseException as exc:
            delay = decide(exc)
            if delay is None:
                raise
        if attempts is None:
            pause = cast(Callable[[float], None], sleep or time.sleep)  # its result is unused
            attempts = iter(tenacity.Retrying(sleep=pause, **_SETTINGS))
            attempt = next(attempts)
        _report(attempt, delay)
        attempt = next(attempts)  # tenacity waits `delay`, then hands out the next attempt


async def aretry_call(
    fn: Callable[[], Awaitable[T]],
    decide: Decide,
    *,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> T:
    """`retry_call` for a coroutine function; `sleep` defaults to `asyncio.sleep`.
    Cancellation propagates (while an attempt runs and while waiting)."""
    attempts: AsyncIterator[tenacity.AttemptManager] | None = None
    while True:
        try:
            return await fn()
        except BaseException as exc:
            delay = decide(exc)
            if delay is None:
                raise
        if attempts is None:
            apause = cast(Callable[[float], Awaitable[None]], sleep or asyncio.sleep)
            attempts = aiter(tenacity.AsyncRetrying(sleep=apause, **_SETTINGS))
            attempt = await anext(attempts)
        _report(attempt, delay)
        attempt = await anext(attempts)  # tenacity waits `delay`, then hands out the next


def _report(attempt: tenacity.AttemptManager, delay: float) -> None:
    """Give tenacity the outcome of the attempt it handed out: retry after `delay`."""
    with attempt:
        raise _Retry(delay)
