"""Exceptions of the error-recovery layer (all under `CrucibleError`); those a declared policy
raises itself live with it (`declare/policies`)."""

from __future__ import annotations

from pytest_crucible.declare.policies import ClassifierError, RecoveryError, RecoverySettingsError

__all__ = [
    "CircuitOpenError",
    "ClassifierError",
    "DeadLetterWarning",
    "RecoveryError",
    "RecoverySettingsError",
    "TrialSkipped",
]


class CircuitOpenError(RecoveryError):
    """The circuit breaker tripped: too many recent trials failed. The message states the
    numbers and how to resume."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeadLetterWarning(UserWarning):
    """A dead-letter file holds a line that is not valid JSON (a torn write); it was skipped."""


class TrialSkipped(BaseException):
    """An on_error hook answered "skip": the trial ends as skipped, not failed.

    A BaseException (like pytest's outcomes), so that `except Exception` in a trial function
    does not swallow it and the retry policy never retries it; the session turns it into
    `pytest.skip(reason)`.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
