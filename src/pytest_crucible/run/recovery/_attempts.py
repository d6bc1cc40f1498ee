"""`Attempts`: the retry bookkeeping of one trial, fed by whoever runs the calls; and
`run_with_retries`, which runs a callable with it through the retry engine."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pytest_crucible.declare.policies import Classification, ErrorHandling, RetryDecision
from pytest_crucible.run.recovery._errors import RecoveryError
from pytest_crucible.util.retrying import Decide, aretry_call, retry_call

__all__ = [
    "Attempts",
    "ErrorEntry",
    "FinalStatus",
    "Outcome",
    "RetryDecision",
    "RetryRecord",
    "run_with_retries",
    "run_with_retries_async",
]

T = TypeVar("T")

FinalStatus = Literal["success", "failed_permanent", "failed_retries_exhausted"]

_MESSAGE_LIMIT = 2000


@dataclass(frozen=True)
class ErrorEntry:
    """One failed attempt: its number (1-based), the exception's type name and message, how it
    was classified and the delay slept before the next attempt (None when there was none)."""

    attempt: int
    type: str
    message: str
    classification: Classification
    delay: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "type": self.type,
            "message": self.message,
            "classification": self.classification,
            "delay": self.delay,
        }


@dataclass(frozen=True)
class RetryRecord:
    """What a trial's result keeps of its attempts."""

    attempts: int
    retry_delays: tuple[float, ...]
    final_status: FinalStatus
    error_history: tuple[ErrorEntry, ...]

    @property
    def succeeded(self) -> bool:
        return self.final_status == "success"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: `attempts`, `retry_delays`, `final_status`, `error_history`."""
        return {
            "attempts": self.attempts,
            "retry_delays": list(self.retry_delays),
            "final_status": self.final_status,
            "error_history": [entry.to_dict() for entry in self.error_history],
        }


class Attempts:
    """Retry bookkeeping for one trial; pure (it never sleeps or calls anything).

    The runner calls `failed(exc)` after each failed attempt and gets a `RetryDecision`
    (retry after `delay` seconds, or stop), or `succeeded()` after the attempt that worked;
    `record()` then gives the trial's `RetryRecord`. `rng` draws the jitter (pass a
    generator seeded per trial for reproducible delays).
    """

    def __init__(self, handling: ErrorHandling, *, rng: random.Random | None = None) -> None:
        self.handling = handling
        self._rng = rng
        self._history: list[ErrorEntry] = []
        self._delays: list[float] = []
        self._count = 0
        self._status: FinalStatus | None = None

    def __repr__(self) -> str:
        return f"Attempts({self._count} made, status={self._status})"

    @property
    def count(self) -> int:
        """Attempts made so far."""
        return self._count

    @property
    def history(self) -> tuple[ErrorEntry, ...]:
        """The failed attempts so far."""
        return tuple(self._history)

    @property
    def done(self) -> bool:
        return self._status is not None

    @property
    def final_status(self) -> FinalStatus | None:
        """None while another attempt is expected."""
        return self._status

    def succeeded(self) -> None:
        """The attempt just made worked."""
        self._start_attempt()
        self._status = "success"

    def failed(
        self,
        exc: BaseException,
        *,
        now: float | None = None,
        classification: Classification | None = None,
    ) -> RetryDecision:
        """The attempt just made raised `exc`: decide whether to retry and after how long.

        Fatal exceptions (KeyboardInterrupt, SystemExit, CancelledError, ...) are recorded
        and never retried; the runner should re-raise them. `now` fixes the clock for
        HTTP-date Retry-After hints. `classification` overrides `classify(exc, handling)`
        (an on_error hook's answer); fatal exceptions stay permanent whatever it says.
        """
        attempt = self._start_attempt()
        decision = self.handling.decide(
            attempt, exc, self._rng, now=now, classification=classification
        )
        self._history.append(entry_of(exc, decision))
        if decision.retry:
            self._delays.append(decision.delay)
        else:
            self._status = stop_status(decision)
        return decision

    def record(self) -> RetryRecord:
        """The trial's record; only once the attempts are over."""
        if self._status is None:
            raise RecoveryError(
                f"Attempts.record(): no final outcome yet after {self._count} attempt(s); "
                "feed succeeded() or a failed() that was not retried first"
            )
        return RetryRecord(
            attempts=self._count,
            retry_delays=tuple(self._delays),
            final_status=self._status,
            error_history=tuple(self._history),
        )

    def _start_attempt(self) -> int:
        if self._status is not None:
            raise RecoveryError(
                f"Attempts: the trial already ended ({self._status}) after {self._count} "
                "attempt(s); start a new Attempts for a new trial"
            )
        self._count += 1
        return self._count


def entry_of(exc: BaseException, decision: RetryDecision) -> ErrorEntry:
    """The history entry of a failed attempt that `decision` answered."""
    return ErrorEntry(
        attempt=decision.attempt,
        type=type(exc).__name__,
        message=_message(exc),
        classification=decision.classification,
        delay=decision.delay if decision.retry else None,
    )


def stop_status(decision: RetryDecision) -> FinalStatus:
    """How the attempts ended when `decision` stopped them."""
    return "failed_retries_exhausted" if decision.classification == "retry" else "failed_permanent"


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not hide the original error
        text = f"<unprintable {type(exc).__name__}>"
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + f"... ({len(text) - _MESSAGE_LIMIT} more characters)"
    return text


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


OnRetry = Callable[[ErrorEntry], None]


def run_with_retries(
    fn: Callable[[], T],
    handling: ErrorHandling,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], object] | None = None,
    on_retry: OnRetry | None = None,
) -> Outcome[T]:
    """Call `fn()` until it works or `handling` says stop (through the retry engine).

    An `Exception` from `fn` never escapes: the last one is in `Outcome.error`. Fatal
    exceptions (KeyboardInterrupt, SystemExit, CancelledError, pytest outcomes) propagate at
    once. `on_retry(entry)` is called before each sleep, e.g. to log the retry on the trial.
    """
    attempts = Attempts(handling, rng=rng)
    try:
        value = retry_call(fn, _deciding(attempts, on_retry), sleep=sleep)
    except Exception as exc:
        return Outcome(None, exc, attempts.record())
    return _succeeded(attempts, value)


async def run_with_retries_async(
    fn: Callable[[], Awaitable[T]],
    handling: ErrorHandling,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
    on_retry: OnRetry | None = None,
) -> Outcome[T]:
    """`run_with_retries` for a coroutine function: `await fn()` for each attempt and
    `await sleep(delay)` between them. Cancellation propagates and is never retried."""
    attempts = Attempts(handling, rng=rng)
    try:
        value = await aretry_call(fn, _deciding(attempts, on_retry), sleep=sleep)
    except Exception as exc:
        return Outcome(None, exc, attempts.record())
    return _succeeded(attempts, value)


def _deciding(attempts: Attempts, on_retry: OnRetry | None) -> Decide:
    def decide(exc: BaseException) -> float | None:
        decision = attempts.failed(exc)
        if not decision.retry:
            return None
        if on_retry is not None:
            on_retry(attempts.history[-1])
        return decision.delay

    return decide


def _succeeded(attempts: Attempts, value: T) -> Outcome[T]:
    attempts.succeeded()
    return Outcome(value, None, attempts.record())
