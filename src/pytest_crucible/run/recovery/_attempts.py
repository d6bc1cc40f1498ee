"""`Attempts`: the retry bookkeeping of one trial, fed by whoever runs the calls."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from pytest_crucible.run.recovery._classify import classify, is_fatal
from pytest_crucible.run.recovery._errors import RecoveryError
from pytest_crucible.run.recovery._policy import Classification, ErrorHandling

__all__ = ["Attempts", "ErrorEntry", "FinalStatus", "RetryDecision", "RetryRecord"]

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
class RetryDecision:
    """The answer to a failed attempt: retry after `delay` seconds, or stop."""

    retry: bool
    delay: float
    classification: Classification
    attempt: int


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
        if classification is None or is_fatal(exc):
            classification = classify(exc, self.handling)
        retry = classification == "retry" and attempt <= self.handling.max_retries
        delay = self.handling.delay(attempt, self._rng, exc, now=now) if retry else 0.0
        self._history.append(
            ErrorEntry(
                attempt=attempt,
                type=type(exc).__name__,
                message=_message(exc),
                classification=classification,
                delay=delay if retry else None,
            )
        )
        if retry:
            self._delays.append(delay)
        elif classification == "retry":
            self._status = "failed_retries_exhausted"
        else:
            self._status = "failed_permanent"
        return RetryDecision(retry, delay, classification, attempt)

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


def _message(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not hide the original error
        text = f"<unprintable {type(exc).__name__}>"
    if len(text) > _MESSAGE_LIMIT:
        text = text[:_MESSAGE_LIMIT] + f"... ({len(text) - _MESSAGE_LIMIT} more characters)"
    return text
