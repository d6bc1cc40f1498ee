"""Errors of declared policies: settings that cannot be used, a classify hook that broke."""

from __future__ import annotations

from pytest_crucible.errors import ConfigError, CrucibleError

__all__ = ["ClassifierError", "RecoveryError", "RecoverySettingsError"]


class RecoveryError(CrucibleError):
    """Base class of the errors of error recovery (`pytest_crucible.run.recovery`)."""


class RecoverySettingsError(RecoveryError, ConfigError):
    """`ErrorHandling` or `CircuitBreakerSettings` got a value it cannot use."""


class ClassifierError(RecoveryError):
    """The user's `classify` hook raised or returned something other than
    "retry", "permanent" or None."""
