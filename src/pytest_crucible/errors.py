"""One exception tree for everything pytest-crucible raises on purpose.

Every message says what went wrong and what to do about it: it names the experiment, the
item, the option or the value, and the fix.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CrucibleError",
    "DatasetError",
    "ExperimentError",
    "MetricError",
    "ResumeError",
    "ScorerError",
    "StatsError",
    "StoreError",
    "StoreFullError",
    "StrategyError",
    "TrialTimeout",
    "TrialUsageError",
]


class CrucibleError(Exception):
    """Base class of every error pytest-crucible raises on purpose."""


class ExperimentError(CrucibleError):
    """An experiment is declared wrongly (unknown baseline, no conditions, ...)."""


class DatasetError(CrucibleError):
    """A dataset cannot be loaded: missing file, malformed row, repeated ids."""


class ConfigError(CrucibleError):
    """A configuration value or an override (`--crucible-set`) is invalid."""


class MetricError(CrucibleError):
    """A trial recorded a metric value that is not allowed, or missed a declared metric."""


class StoreError(CrucibleError):
    """The results store cannot be opened or written (corrupt, locked, newer schema)."""


class StoreFullError(StoreError):
    """The store cannot be written: its disk is full (or a file size limit was reached)."""


class ResumeError(CrucibleError):
    """`--crucible-resume` names a run that does not exist."""


class StatsError(CrucibleError):
    """A statistical routine was called with arguments it cannot use."""


class TrialTimeout(CrucibleError, TimeoutError):
    """A trial (`Experiment(timeout=...)`) or a condition call (`Condition(timeout=...)`)
    did not finish in time. The trial is stored as failed with this error type, and
    `--crucible-retry-failed` runs it again."""


class TrialUsageError(CrucibleError, TypeError, ValueError):
    """A trial's runtime API got a value it cannot keep: `trial.result` a value that is not
    JSON, `trial.log_batch` an entry that is not a log line."""


class ScorerError(CrucibleError, ValueError):
    """A scorer got an argument it cannot score (a non-text output, no expected answer, a bad
    pattern, a HumanEval problem without its test, a limit that is not a positive number), or
    sacrebleu, which BLEU and chrF need, is not installed."""


class StrategyError(CrucibleError, ValueError):
    """A reliability strategy (`strategies.ensemble`, hedging) is declared or called
    wrongly: an unknown vote or execution mode, a member that is neither a backend and a
    model nor a callable, weights that do not match the members, confidences missing where
    the vote needs them."""
