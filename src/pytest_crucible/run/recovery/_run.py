"""Run a callable under an `ErrorHandling` policy: sync and async helpers for the runner."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pytest_crucible.run.recovery._attempts import Attempts, ErrorEntry, RetryRecord
from pytest_crucible.run.recovery._policy import ErrorHandling

__all__ = ["Outcome", "run_with_retries", "run_with_retries_async"]

T = TypeVar("T")

OnRetry = Callable[[ErrorEntry], None]


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """The value of the attempt that worked, or the last attempt's exception, with the record."""

    value: T | None
    error: Exception | None
    record: RetryRecord

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> T:
        """The value, or raise the last attempt's exception."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # None only if fn returned None


def run_with_retries(
    fn: Callable[[], T],
    handling: ErrorHandling,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], object] = time.sleep,
    on_retry: OnRetry | None = None,
) -> Outcome[T]:
    """Call `fn()` until it works or `handling` says stop.

    An `Exception` from `fn` never escapes: the last one is in `Outcome.error`. Fatal
    exceptions (KeyboardInterrupt, SystemExit, CancelledError, pytest outcomes) propagate at
    once. `on_retry(entry)` is called before each sleep, e.g. to log the retry on the trial.
    """
    attempts = Attempts(handling, rng=rng)
    while True:
        try:
            value = fn()
        except BaseException as exc:
            delay = _after_failure(attempts, exc, on_retry)
            if delay is None:
                return Outcome(None, _as_exception(exc), attempts.record())
            sleep(delay)
            continue
        attempts.succeeded()
        return Outcome(value, None, attempts.record())


async def run_with_retries_async(
    fn: Callable[[], Awaitable[T]],
    handling: ErrorHandling,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    on_retry: OnRetry | None = None,
) -> Outcome[T]:
    """`run_with_retries` for a coroutine function: `await fn()` for each attempt and
    `await sleep(delay)` between them. Cancellation propagates and is never retried."""
    attempts = Attempts(handling, rng=rng)
    while True:
        try:
            value = await fn()
        except BaseException as exc:
            delay = _after_failure(attempts, exc, on_retry)
            if delay is None:
                return Outcome(None, _as_exception(exc), attempts.record())
            await sleep(delay)
            continue
        attempts.succeeded()
        return Outcome(value, None, attempts.record())


def _after_failure(
    attempts: Attempts, exc: BaseException, on_retry: OnRetry | None
) -> float | None:
    """Feed the failure; re-raise fatal exceptions; the delay before the next attempt, or
    None when the attempts are over."""
    decision = attempts.failed(exc)
    if not isinstance(exc, Exception):
        raise exc
    if not decision.retry:
        return None
    if on_retry is not None:
        on_retry(attempts.history[-1])
    return decision.delay


def _as_exception(exc: BaseException) -> Exception:
    if isinstance(exc, Exception):
        return exc
    raise exc  # pragma: no cover - _after_failure re-raised fatal exceptions already
