"""pytest-crucible: AI research experiments as pytest test suites.

Declare an `Experiment` (conditions x dataset items x repeats), mark its trial function with
`@experiment.trial`, and run `pytest --crucible`. Every trial is stored as it finishes,
`--crucible-resume` continues an interrupted run, and the session ends with a results table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_crucible.util import moved
from pytest_crucible.util.lazy import LazyNames

moved.install()  # old import paths of moved modules keep working for one release

if TYPE_CHECKING:
    from pytest_crucible import benchmarks, scorers, strategies
    from pytest_crucible.declare import datasets, validation
    from pytest_crucible.declare.conditions import Condition
    from pytest_crucible.declare.config import ConfigSchema, Field
    from pytest_crucible.declare.datasets import Dataset, Item
    from pytest_crucible.declare.experiment import Experiment
    from pytest_crucible.declare.hooks import HookError, Hooks
    from pytest_crucible.declare.metrics import Analysis, Metric
    from pytest_crucible.declare.policies import Budget, CircuitBreakerSettings, ErrorHandling
    from pytest_crucible.declare.validation import (
        MetricSchema,
        MetricValidation,
        MetricValidationError,
    )
    from pytest_crucible.errors import (
        ConfigError,
        CrucibleError,
        DatasetError,
        ExperimentError,
        MetricError,
        ResumeError,
        StoreError,
        TrialTimeout,
        TrialUsageError,
    )
    from pytest_crucible.run.estimate import Estimate
    from pytest_crucible.run.trial import Trial
    from pytest_crucible.store.frames import load_runs, load_trials

# Each name is imported on first use: pytest imports this package in every run of a project
# that has the plugin installed (its entry point is a submodule), with or without --crucible.
_LAZY = LazyNames(
    __name__,
    {
        "Analysis": "pytest_crucible.declare.metrics",
        "Budget": "pytest_crucible.declare.policies",
        "CircuitBreakerSettings": "pytest_crucible.declare.policies",
        "Condition": "pytest_crucible.declare.conditions",
        "ConfigError": "pytest_crucible.errors",
        "ConfigSchema": "pytest_crucible.declare.config",
        "CrucibleError": "pytest_crucible.errors",
        "Dataset": "pytest_crucible.declare.datasets",
        "DatasetError": "pytest_crucible.errors",
        "ErrorHandling": "pytest_crucible.declare.policies",
        "Estimate": "pytest_crucible.run.estimate",
        "Experiment": "pytest_crucible.declare.experiment",
        "ExperimentError": "pytest_crucible.errors",
        "Field": "pytest_crucible.declare.config",
        "HookError": "pytest_crucible.declare.hooks",
        "Hooks": "pytest_crucible.declare.hooks",
        "Item": "pytest_crucible.declare.datasets",
        "Metric": "pytest_crucible.declare.metrics",
        "MetricError": "pytest_crucible.errors",
        "MetricSchema": "pytest_crucible.declare.validation",
        "MetricValidation": "pytest_crucible.declare.validation",
        "MetricValidationError": "pytest_crucible.declare.validation",
        "ResumeError": "pytest_crucible.errors",
        "StoreError": "pytest_crucible.errors",
        "Trial": "pytest_crucible.run.trial",
        "TrialTimeout": "pytest_crucible.errors",
        "TrialUsageError": "pytest_crucible.errors",
        "load_runs": "pytest_crucible.store.frames",
        "load_trials": "pytest_crucible.store.frames",
    },
    modules={
        "benchmarks": "pytest_crucible.benchmarks",
        "datasets": "pytest_crucible.declare.datasets",
        "scorers": "pytest_crucible.scorers",
        "strategies": "pytest_crucible.strategies",
        "validation": "pytest_crucible.declare.validation",
    },
)

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
    "TrialTimeout",
    "TrialUsageError",
    "benchmarks",
    "datasets",
    "load_runs",
    "load_trials",
    "scorers",
    "strategies",
    "validation",
]


# PEP 562: the module's attribute look-up and dir() go through the lazy names
__getattr__ = _LAZY.get
__dir__ = _LAZY.names
