"""TrialRecovery: one trial's record over its condition calls and validation reruns; the
on_error override of a classification."""

from __future__ import annotations

import random

from pytest_crucible.run.recovery import NO_RETRIES, ErrorHandling, TrialRecovery

POLICY = ErrorHandling(jitter="none", initial_delay=1.0, factor=2.0, max_retries=2)


class Invalid(Exception):
    retryable = True


def test_no_call_no_record() -> None:
    assert TrialRecovery(POLICY, seed=1).to_dict() is None


def test_calls_merge_into_one_record_numbered_by_the_trials_tries() -> None:
    recovery = TrialRecovery(POLICY, seed=1)
    first = recovery.start_call()
    assert first.failed(ConnectionError("reset")).retry
    first.succeeded()
    recovery.end_call(first)
    second = recovery.start_call()
    second.failed(ConnectionError("reset again"))
    second.failed(ConnectionError("and again"))
    assert not second.failed(ConnectionError("gone")).retry
    recovery.end_call(second)
    record = recovery.to_dict()
    assert record is not None
    assert record["attempts"] == 4  # 1 + the three retries made
    assert record["retry_delays"] == [1.0, 1.0, 2.0]
    assert record["final_status"] == "failed_retries_exhausted"
    assert [e["attempt"] for e in record["error_history"]] == [1, 2, 3, 4]


def test_validation_reruns_count_as_retries_until_the_policy_says_stop() -> None:
    recovery = TrialRecovery(POLICY, seed=1)
    call = recovery.start_call()
    call.succeeded()
    recovery.end_call(call)
    assert recovery.validation_failed(Invalid("accuracy = 1.7 breaks max 1.0")) == 1.0
    assert recovery.validation_failed(Invalid("again")) == 2.0
    assert recovery.validation_failed(Invalid("still")) is None
    record = recovery.record()
    assert record is not None and record.final_status == "failed_retries_exhausted"
    assert [(e.attempt, e.type, e.delay) for e in record.error_history] == [
        (1, "Invalid", 1.0),
        (2, "Invalid", 2.0),
        (3, "Invalid", None),
    ]


def test_a_rerun_that_passes_ends_in_success() -> None:
    recovery = TrialRecovery(POLICY, seed=1)
    assert recovery.validation_failed(Invalid("bad")) == 1.0
    call = recovery.start_call()
    call.succeeded()
    recovery.end_call(call)
    assert recovery.final_status == "success"
    assert recovery.to_dict()["attempts"] == 2  # type: ignore[index]


def test_jitter_comes_from_the_trial_seed_not_from_the_trial_rng() -> None:
    jittered = ErrorHandling(jitter="full", initial_delay=1.0, max_retries=3)
    delays = []
    for _ in range(2):
        recovery = TrialRecovery(jittered, seed=42)
        attempts = recovery.start_call()
        delays.append(attempts.failed(TimeoutError()).delay)
    expected = 1.0 * (1.0 - random.Random(42).random())
    assert delays == [expected, expected]


def test_an_override_decides_the_classification_but_not_for_fatal_errors() -> None:
    recovery = TrialRecovery(POLICY, seed=1)
    attempts = recovery.start_call()
    assert attempts.failed(KeyError("x"), classification="retry").retry  # normally permanent
    assert not attempts.failed(TimeoutError(), classification="permanent").retry
    assert attempts.final_status == "failed_permanent"
    fatal = recovery.start_call()
    decision = fatal.failed(KeyboardInterrupt(), classification="retry")
    assert not decision.retry and decision.classification == "permanent"


def test_without_error_handling_a_call_is_made_once() -> None:
    recovery = TrialRecovery(NO_RETRIES, seed=1)
    attempts = recovery.start_call()
    assert not attempts.failed(TimeoutError("slow")).retry
    recovery.end_call(attempts)
    assert recovery.to_dict()["final_status"] == "failed_retries_exhausted"  # type: ignore[index]
