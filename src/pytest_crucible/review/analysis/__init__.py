"""Session-end analysis: turn a run's trials into estimates, paired comparisons and words.

`analyze(trials, conditions=..., baseline=..., metrics=..., settings=Analysis())` is pure
(pandas and `pytest_crucible.stats`); `format_analysis` renders the terminal summary and
`RunAnalysis.to_dict()` the JSON stored with the run.
"""

from __future__ import annotations

from pytest_crucible.review.analysis._analyze import analyze
from pytest_crucible.review.analysis._model import (
    ComparisonRow,
    ConditionSummary,
    MetricAnalysis,
    RunAnalysis,
)
from pytest_crucible.review.analysis._text import format_analysis

__all__ = [
    "ComparisonRow",
    "ConditionSummary",
    "MetricAnalysis",
    "RunAnalysis",
    "analyze",
    "format_analysis",
]
