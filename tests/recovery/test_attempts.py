"""Attempts: the per-trial retry bookkeeping, fed outcome by outcome."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from pytest_crucible.run.recovery import Attempts, ErrorHandling, RecoveryError

NO_JITTER = ErrorHandling(jitter="none", initial_delay=1.0, factor=2.0, max_retries=3)


class RateLimited(Exception):
    status_code = 429


def test_success_on_the_first_attempt() -> None:
    attempts = Attempts(NO_JITTER)
    attempts.succeeded()
    record = attempts.record()
    assert record.to_dict() == {
        "attempts": 1,
        "retry_delays": [],
        "final_status": "success",
        "error_history": [],
    }
    assert record.succeeded


def test_success_after_retries_keeps_the_history() -> None:
    attempts = Attempts(NO_JITTER)
    first = attempts.failed(TimeoutError("read timed out"))
    second = attempts.failed(RateLimited("slow down"))
    attempts.succeeded()
    assert (first.retry, first.delay, first.attempt) == (True, 1.0, 1)
    assert (second.retry, second.delay, second.attempt) == (True, 2.0, 2)
    record = attempts.record()
    assert record.attempts == 3
    assert record.retry_delays == (1.0, 2.0)
    assert record.final_status == "success"
    assert [entry.to_dict() for entry in record.error_history] == [
        {
            "attempt": 1,
            "type": "TimeoutError",
            "message": "read timed out",
            "classification": "retry",
            "delay": 1.0,
        },
        {
            "attempt": 2,
            "type": "RateLimited",
            "message": "slow down",
            "classification": "retry",
            "delay": 2.0,
        },
    ]
    json.dumps(record.to_dict(), allow_nan=False)  # JSON-safe as it is


def test_retries_run_out() -> None:
    attempts = Attempts(NO_JITTER)
    decisions = [attempts.failed(TimeoutError()) for _ in range(4)]
    assert [d.retry for d in decisions] == [True, True, True, False]
    record = attempts.record()
    assert record.final_status == "failed_retries_exhausted"
    assert record.attempts == 4
    assert record.retry_delays == (1.0, 2.0, 4.0)
    assert record.error_history[-1].delay is None
    assert record.error_history[-1].classification == "retry"


def test_a_permanent_error_stops_at_once() -> None:
    attempts = Attempts(NO_JITTER)
    attempts.failed(TimeoutError())
    decision = attempts.failed(ValueError("bad prompt"))
    assert not decision.retry and decision.classification == "permanent"
    record = attempts.record()
    assert record.final_status == "failed_permanent"
    assert record.attempts == 2
    assert record.retry_delays == (1.0,)


def test_no_retries_when_max_retries_is_zero() -> None:
    attempts = Attempts(ErrorHandling(max_retries=0))
    assert not attempts.failed(TimeoutError()).retry
    assert attempts.record().final_status == "failed_retries_exhausted"


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(2), asyncio.CancelledError()])
def test_fatal_exceptions_are_never_retried(exc: BaseException) -> None:
    attempts = Attempts(ErrorHandling(classify=lambda e: "retry"))
    assert not attempts.failed(exc).retry
    assert attempts.record().final_status == "failed_permanent"


def test_retry_after_is_honoured_in_the_decision() -> None:
    exc = RateLimited("slow down")
    exc.retry_after = 9  # type: ignore[attr-defined]
    assert Attempts(NO_JITTER).failed(exc).delay == 9.0


def test_jittered_delays_are_reproducible_with_a_seeded_rng() -> None:
    def delays(seed: int) -> tuple[float, ...]:
        attempts = Attempts(ErrorHandling(jitter="full"), rng=random.Random(seed))
        for _ in range(3):
            attempts.failed(TimeoutError())
        attempts.succeeded()
        return attempts.record().retry_delays

    assert delays(1) == delays(1)
    assert delays(1) != delays(2)


def test_record_before_the_end_is_an_error() -> None:
    attempts = Attempts(NO_JITTER)
    with pytest.raises(RecoveryError, match="no final outcome yet after 0 attempt"):
        attempts.record()
    attempts.failed(TimeoutError())
    assert not attempts.done and attempts.final_status is None
    with pytest.raises(RecoveryError, match="after 1 attempt"):
        attempts.record()


def test_feeding_after_the_end_is_an_error() -> None:
    attempts = Attempts(NO_JITTER)
    attempts.succeeded()
    assert attempts.done
    with pytest.raises(RecoveryError, match=r"already ended \(success\).*new Attempts"):
        attempts.failed(TimeoutError())
    with pytest.raises(RecoveryError):
        attempts.succeeded()


def test_long_and_unprintable_messages() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    attempts = Attempts(ErrorHandling(unknown="retry"))
    attempts.failed(TimeoutError("x" * 5000))
    attempts.failed(Unprintable())
    history = attempts.history
    assert len(history[0].message) < 2100 and history[0].message.endswith("3000 more characters)")
    assert history[1].message == "<unprintable Unprintable>"
