"""pytest-crucible: AI research experiments as pytest test suites.

Declare an `Experiment` (conditions x dataset items x repeats), mark its trial function with
`@experiment.trial`, and run `pytest --crucible`. Every trial is stored as it finishes,
`--crucible-resume` continues an interrupted run, and the session ends with a results table.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pytest_crucible.util import moved

moved.install()  # old import paths of moved modules keep working for one release

if TYPE_CHECKING:
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
    )
    from pytest_crucible.run.estimate import Estimate
    from pytest_crucible.run.trial import Trial
    from pytest_crucible.store.frames import load_runs, load_trials

# Each name is imported on first use: pytest imports this package in every run of a project
# that has the plugin installed (its entry point is a submodule), with or without --crucible.
_LAZY: dict[str, tuple[str, str | None]] = {
    "Analysis": ("pytest_crucible.declare.metrics", "Analysis"),
    "Budget": ("pytest_crucible.declare.policies", "Budget"),
    "CircuitBreakerSettings": ("pytest_crucible.declare.policies", "CircuitBreakerSettings"),
    "Condition": ("pytest_crucible.declare.conditions", "Condition"),
    "ConfigError": ("pytest_crucible.errors", "ConfigError"),
    "ConfigSchema": ("pytest_crucible.declare.config", "ConfigSchema"),
    "CrucibleError": ("pytest_crucible.errors", "CrucibleError"),
    "Dataset": ("pytest_crucible.declare.datasets", "Dataset"),
    "DatasetError": ("pytest_crucible.errors", "DatasetError"),
    "ErrorHandling": ("pytest_crucible.declare.policies", "ErrorHandling"),
    "Estimate": ("pytest_crucible.run.estimate", "Estimate"),
    "Experiment": ("pytest_crucible.declare.experiment", "Experiment"),
    "ExperimentError": ("pytest_crucible.errors", "ExperimentError"),
    "Field": ("pytest_crucible.declare.config", "Field"),
    "HookError": ("pytest_crucible.declare.hooks", "HookError"),
    "Hooks": ("pytest_crucible.declare.hooks", "Hooks"),
    "Item": ("pytest_crucible.declare.datasets", "Item"),
    "Metric": ("pytest_crucible.declare.metrics", "Metric"),
    "MetricError": ("pytest_crucible.errors", "MetricError"),
    "MetricSchema": ("pytest_crucible.declare.validation", "MetricSchema"),
    "MetricValidation": ("pytest_crucible.declare.validation", "MetricValidation"),
    "MetricValidationError": ("pytest_crucible.declare.validation", "MetricValidationError"),
    "ResumeError": ("pytest_crucible.errors", "ResumeError"),
    "StoreError": ("pytest_crucible.errors", "StoreError"),
    "Trial": ("pytest_crucible.run.trial", "Trial"),
    "datasets": ("pytest_crucible.declare.datasets", None),
    "load_runs": ("pytest_crucible.store.frames", "load_runs"),
    "load_trials": ("pytest_crucible.store.frames", "load_trials"),
    "validation": ("pytest_crucible.declare.validation", None),
}

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


def __getattr__(name: str) -> Any:
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = found
    # not cached here: the module in sys.modules is the one to use (pytester's in-process
    # runs, for one, drop the modules a run imported, and the next run imports them anew)
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
