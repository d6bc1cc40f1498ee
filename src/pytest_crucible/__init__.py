"""pytest-crucible: AI research experiments as pytest test suites.

Declare an `Experiment` (conditions x dataset items x repeats), mark its trial function with
`@experiment.trial`, and run `pytest --crucible`. Every trial is stored as it finishes,
`--crucible-resume` continues an interrupted run, and the session ends with a results table.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Each name is imported on first use: pytest imports this package in every run of a project
# that has the plugin installed (its entry point is a submodule), with or without --crucible.
_LAZY: dict[str, tuple[str, str | None]] = {
    "Analysis": (".metrics", "Analysis"),
    "Budget": (".calls", "Budget"),
    "CircuitBreakerSettings": (".recovery", "CircuitBreakerSettings"),
    "Condition": (".conditions", "Condition"),
    "ConfigError": (".errors", "ConfigError"),
    "ConfigSchema": (".config", "ConfigSchema"),
    "CrucibleError": (".errors", "CrucibleError"),
    "Dataset": (".datasets", "Dataset"),
    "DatasetError": (".errors", "DatasetError"),
    "ErrorHandling": (".recovery", "ErrorHandling"),
    "Estimate": (".estimate", "Estimate"),
    "Experiment": (".experiment", "Experiment"),
    "ExperimentError": (".errors", "ExperimentError"),
    "Field": (".config", "Field"),
    "HookError": (".hooks", "HookError"),
    "Hooks": (".hooks", "Hooks"),
    "Item": (".datasets", "Item"),
    "Metric": (".metrics", "Metric"),
    "MetricError": (".errors", "MetricError"),
    "MetricSchema": (".validation", "MetricSchema"),
    "MetricValidation": (".validation", "MetricValidation"),
    "MetricValidationError": (".validation", "MetricValidationError"),
    "ResumeError": (".errors", "ResumeError"),
    "StoreError": (".errors", "StoreError"),
    "Trial": (".trial", "Trial"),
    "datasets": (".datasets", None),
    "load_runs": (".frames", "load_runs"),
    "load_trials": (".frames", "load_trials"),
    "validation": (".validation", None),
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
    module = importlib.import_module(module_name, __name__)
    return module if attribute is None else getattr(module, attribute)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
