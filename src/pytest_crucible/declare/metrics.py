"""What a trial measures (`Metric`) and how the session-end analysis compares it (`Analysis`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pytest_crucible.declare.aggregates import Aggregate, parse_aggregates
from pytest_crucible.errors import ExperimentError, MetricError
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Analysis", "Metric", "MetricKind", "check_metric_value"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames

MetricKind = Literal["auto", "binary", "continuous"]
Correction = Literal["holm", "bonferroni", "bh", "none"]
Family = Literal["experiment", "metric"]


@dataclass(frozen=True)
class Metric:
    """A declared metric.

    kind: "binary" for pass/fail outcomes (compared with McNemar), "continuous" for scores and
    timings, "auto" to decide from the recorded values.
    lower_is_better: True for latency, cost, error rates; it orients "better"/"worse" in the
    analysis and in gates.
    scorer: a function `scorer(output, expected)` (e.g. `scorers.exact_match`) that computes
    the metric after the trial function returns, from the condition's last output and the
    item's expected answer, unless the trial recorded the metric itself (docs/scorers.md).
    aggregate: what the results table and reports show per condition besides the mean:
    "mean", "median", "pNN" (percentile 1-99) or "pass@K" (binary metrics), or a tuple of
    them, e.g. ("mean", "p95"); each with a bootstrap interval over items (docs/aggregates.md).
    """

    kind: MetricKind = "auto"
    lower_is_better: bool = False
    description: str = ""
    unit: str = ""
    scorer: Callable[..., Any] | None = None
    aggregate: str | tuple[str, ...] = "mean"

    def __post_init__(self) -> None:
        if self.kind not in ("auto", "binary", "continuous"):
            raise ExperimentError(
                f"Metric(kind={self.kind!r}) is not a metric kind; "
                "use 'binary', 'continuous' or 'auto'"
            )
        if self.scorer is not None and not callable(self.scorer):
            raise ExperimentError(
                f"Metric(scorer={self.scorer!r}) is not callable; give a function "
                "scorer(output, expected), e.g. pytest_crucible.scorers.exact_match"
            )
        if isinstance(self.aggregate, list):  # as read back from a run's stored header
            object.__setattr__(self, "aggregate", tuple(self.aggregate))
        parse_aggregates(self.aggregate, kind=self.kind)

    @property
    def aggregates(self) -> tuple[Aggregate, ...]:
        """The declared aggregates, parsed (`aggregate` in its checked form)."""
        return parse_aggregates(self.aggregate, kind=self.kind)


@dataclass(frozen=True)
class Analysis:
    """Settings of the session-end analysis of one experiment.

    alpha: significance level of every comparison; level: confidence level of intervals;
    correction: how p-values are adjusted across the family of comparisons;
    test: the test `stats.compare` uses ("auto" chooses from the data);
    family: which comparisons share one correction: "experiment" (every comparison on every
    metric of the experiment, the default) or "metric" (each metric's comparisons apart).
    The intervals beside comparisons are not adjusted; the tables say so.
    """

    alpha: float = 0.05
    level: float = 0.95
    correction: Correction = "holm"
    test: str = "auto"
    family: Family = "experiment"

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ExperimentError(f"Analysis(alpha={self.alpha}) must lie strictly between 0 and 1")
        if not 0 < self.level < 1:
            raise ExperimentError(f"Analysis(level={self.level}) must lie strictly between 0 and 1")
        if self.correction not in ("holm", "bonferroni", "bh", "none"):
            raise ExperimentError(
                f"Analysis(correction={self.correction!r}) is unknown; "
                "use 'holm', 'bonferroni', 'bh' or 'none'"
            )
        if self.family not in ("experiment", "metric"):
            raise ExperimentError(
                f"Analysis(family={self.family!r}) is unknown; use 'experiment' (one correction "
                "across every metric) or 'metric' (a correction per metric)"
            )


def check_metric_value(name: str, value: object) -> float | bool:
    """Return a recorded metric value if it is a finite number or a bool, else raise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not isinstance(value, complex):
        number = float(value)
        if math.isfinite(number):
            return value
        raise MetricError(f"metric {name!r} = {value!r} is not finite; record a finite number")
    try:  # numpy scalars and similar
        import numpy as np

        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer | np.floating):
            return check_metric_value(name, value.item())
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    raise MetricError(
        f"metric {name!r} = {value!r} ({type(value).__name__}) is not a number or a bool; "
        "record numbers (e.g. 0.85) or booleans (e.g. correct=True)"
    )
