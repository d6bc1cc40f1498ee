"""Declared policies: how failures are handled (`ErrorHandling`, the one retry policy, with its
error classification), when a run stops (`CircuitBreakerSettings`) and what it may spend
(`Budget`).

What a user declares and nothing that carries it out: the runner (`run/`) and the model
backends (`llm/`) execute these through the retry engine (`util/retrying.py`).
"""

from __future__ import annotations

from pytest_crucible.declare.policies._breaker import CircuitBreakerSettings
from pytest_crucible.declare.policies._budget import Budget
from pytest_crucible.declare.policies._classify import Classification, classify, is_fatal
from pytest_crucible.declare.policies._error_handling import (
    DEFAULT_PERMANENT_STATUS_CODES,
    DEFAULT_RETRY_STATUS_CODES,
    Classifier,
    ErrorHandling,
    Jitter,
    RetryAfter,
    RetryDecision,
    Strategy,
)
from pytest_crucible.declare.policies._errors import (
    ClassifierError,
    RecoveryError,
    RecoverySettingsError,
)

__all__ = [
    "DEFAULT_PERMANENT_STATUS_CODES",
    "DEFAULT_RETRY_STATUS_CODES",
    "Budget",
    "CircuitBreakerSettings",
    "Classification",
    "Classifier",
    "ClassifierError",
    "ErrorHandling",
    "Jitter",
    "RecoveryError",
    "RecoverySettingsError",
    "RetryAfter",
    "RetryDecision",
    "Strategy",
    "classify",
    "is_fatal",
]
