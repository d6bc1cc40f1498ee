"""Error recovery for trials, carried out: retry bookkeeping, circuit breaker, dead letters.

Pure building blocks (no pytest) that the runner wires in. The policies they carry out are
declared in `declare/policies` and re-exported here:

- `ErrorHandling(...)`: the retry policy (strategy, delays, jitter, which errors retry) and
  `ErrorHandling.delay(attempt, rng, error)`, which honours Retry-After hints;
- `classify(exc, handling)`: "retry" or "permanent";
- `Attempts`: per-trial bookkeeping fed with each attempt's outcome, answering "retry? after
  how long?" and giving the trial's `RetryRecord`; `run_with_retries` and
  `run_with_retries_async` drive a callable with it through the retry engine
  (`util/retrying.py`; sleep injectable);
- `CircuitBreaker`: trips when too many recent trials failed;
- `DeadLetterQueue` / `read_dead_letters`: a JSON-lines file of trials that failed for good;
- `TrialRecovery`: one trial's record over all its condition calls and validation reruns.

See docs/recovery.md.
"""

from __future__ import annotations

from pytest_crucible.declare.policies import (
    DEFAULT_PERMANENT_STATUS_CODES,
    DEFAULT_RETRY_STATUS_CODES,
    CircuitBreakerSettings,
    Classification,
    Classifier,
    ClassifierError,
    ErrorHandling,
    Jitter,
    RecoveryError,
    RecoverySettingsError,
    RetryDecision,
    Strategy,
    classify,
    is_fatal,
)
from pytest_crucible.run.recovery._attempts import (
    Attempts,
    ErrorEntry,
    FinalStatus,
    Outcome,
    RetryRecord,
    run_with_retries,
    run_with_retries_async,
)
from pytest_crucible.run.recovery._breaker import CircuitBreaker
from pytest_crucible.run.recovery._dead_letter import DeadLetter, DeadLetterQueue, read_dead_letters
from pytest_crucible.run.recovery._errors import CircuitOpenError, DeadLetterWarning, TrialSkipped
from pytest_crucible.run.recovery._trial import NO_RETRIES, TrialRecovery
from pytest_crucible.util.hints import retry_after_of, status_code_of

__all__ = [
    "DEFAULT_PERMANENT_STATUS_CODES",
    "DEFAULT_RETRY_STATUS_CODES",
    "NO_RETRIES",
    "Attempts",
    "CircuitBreaker",
    "CircuitBreakerSettings",
    "CircuitOpenError",
    "Classification",
    "Classifier",
    "ClassifierError",
    "DeadLetter",
    "DeadLetterQueue",
    "DeadLetterWarning",
    "ErrorEntry",
    "ErrorHandling",
    "FinalStatus",
    "Jitter",
    "Outcome",
    "RecoveryError",
    "RecoverySettingsError",
    "RetryDecision",
    "RetryRecord",
    "Strategy",
    "TrialRecovery",
    "TrialSkipped",
    "classify",
    "is_fatal",
    "read_dead_letters",
    "retry_after_of",
    "run_with_retries",
    "run_with_retries_async",
    "status_code_of",
]
