"""pytest-crucible: AI research experiments as pytest test suites.

Declare an `Experiment` (conditions x dataset items x repeats), mark its trial function with
`@experiment.trial`, and run `pytest --crucible`. Every trial is stored as it finishes,
`--crucible-resume` continues an interrupted run, and the session ends with a results table.
"""

from __future__ import annotations

from . import datasets
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
from .metrics import Analysis, Metric
from .trial import Trial

__all__ = [
    "Analysis",
    "Budget",
    "Condition",
    "ConfigError",
    "ConfigSchema",
    "CrucibleError",
    "Dataset",
    "DatasetError",
    "Estimate",
    "Experiment",
    "ExperimentError",
    "Field",
    "Item",
    "Metric",
    "MetricError",
    "ResumeError",
    "StoreError",
    "Trial",
    "datasets",
    "load_runs",
    "load_trials",
]
