"""pytest-crucible: AI research experiments as pytest test suites.

Declare an `Experiment` (conditions x dataset items x repeats), mark its trial function with
`@experiment.trial`, and run `pytest --crucible`. Every trial is stored as it finishes,
`--crucible-resume` continues an interrupted run, and the session ends with a results table.
"""

from __future__ import annotations

from . import datasets, validation
from .calls import Budget
from .conditions import Condition
from .config import ConfigSchema, Field
from .datasets import Dataset, Item
from .errors import (
    ConfigError,
    CrucibleError,
    DatasetError,
    ExperimentError,
    MetricError,
    ResumeError,
    StoreError,
)
from .estimate import Estimate
from .experiment import Experiment
from .frames import load_runs, load_trials
from .hooks import HookError, Hooks
from .metrics import Analysis, Metric
from .recovery import CircuitBreakerSettings, ErrorHandling
from .trial import Trial
from .validation import MetricSchema, MetricValidation, MetricValidationError

__all__ = [
    "Analysis",
    "Budget",
    "CircuitBreakerSettings",
    "Condition",
    "ConfigError",
    "ConfigSchema",
    "CrucibleError",
    "Dataset",
    "DatasetError",
    "ErrorHandling",
    "Estimate",
    "Experiment",
    "ExperimentError",
    "Field",
    "HookError",
    "Hooks",
    "Item",
    "Metric",
    "MetricError",
    "MetricSchema",
    "MetricValidation",
    "MetricValidationError",
    "ResumeError",
    "StoreError",
    "Trial",
    "datasets",
    "load_runs",
    "load_trials",
    "validation",
]
