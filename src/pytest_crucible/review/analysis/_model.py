"""The session-end analysis as frozen records, and their JSON-safe form."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from pytest_crucible.declare.metrics import Analysis
from pytest_crucible.stats import Comparison, OmnibusResult

__all__ = [
    "AggregateSummary",
    "ComparisonRow",
    "ConditionSummary",
    "MetricAnalysis",
    "RunAnalysis",
    "json_safe",
]


@dataclass(frozen=True)
class AggregateSummary:
    """One condition's aggregate beyond the mean: a declared one of a metric ("p95",
    "pass@3", "median") or a cost ("cost_per_trial", "cost_per_correct"), with its bootstrap
    interval over items. label is the column header ("latency_s p95", "cost per trial").
    estimate and ci are NaN (None in JSON) when undefined; notes say why."""

    name: str
    label: str
    condition: str
    estimate: float
    ci: tuple[float, float]
    method: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConditionSummary:
    """One condition on one metric: mean of per-item values (repeats averaged) and its CI.

    n_trials: passed trials that recorded the metric; n_failed: failed trials of the
    condition (they are not analysed); method: how the interval was computed.
    """

    condition: str
    n_items: int
    n_trials: int
    n_failed: int
    mean: float
    se: float
    ci: tuple[float, float]
    method: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ComparisonRow:
    """`condition` against `other` (the baseline, or the other condition of the pair).

    result.estimate is mean(condition) - mean(other), paired on items; result.ci inverts the
    test (result.ci_method) at the analysis level and is not adjusted for multiplicity.
    p_adjusted is adjusted across the family (Analysis.family: the whole experiment, or this
    metric). direction is "better", "worse" (oriented by the metric's lower_is_better) or
    "no difference" (not significant). interval_note says why the interval and the verdict
    disagree (e.g. it excludes 0 while the adjusted p is not significant), else "".
    """

    metric: str
    condition: str
    other: str
    result: Comparison
    p_adjusted: float
    significant: bool
    direction: str
    sentence: str
    interval_note: str = ""


@dataclass(frozen=True)
class MetricAnalysis:
    """Everything computed for one metric."""

    name: str
    kind: str
    lower_is_better: bool
    unit: str
    conditions: tuple[ConditionSummary, ...]
    comparisons: tuple[ComparisonRow, ...]
    omnibus: OmnibusResult | None
    power_line: str
    notes: tuple[str, ...] = ()
    family_size: int = 0  # the comparisons sharing this metric's p-value adjustment
    aggregates: tuple[AggregateSummary, ...] = ()  # declared beyond the mean, per condition


@dataclass(frozen=True)
class RunAnalysis:
    """The analysis of one experiment's run; `to_dict()` is JSON-safe (no NaN: None)."""

    conditions: tuple[str, ...]
    baseline: str | None
    settings: Analysis
    metrics: tuple[MetricAnalysis, ...]
    failed: tuple[tuple[str, int], ...]
    n_trials: int
    n_items: int
    clustered: bool
    family_size: int
    notes: tuple[str, ...] = ()
    family: str = ""  # which comparisons and metrics share the p-value adjustment, in words
    costs: tuple[AggregateSummary, ...] = ()  # cost per trial and per correct, per condition

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for json.dumps: tuples become lists, NaN and infinities None."""
        data = json_safe(dataclasses.asdict(self))
        data["failed"] = dict(self.failed)
        return data  # type: ignore[no-any-return]


def json_safe(value: Any) -> Any:
    """Recursively turn a dataclasses.asdict() tree into JSON-safe values."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars
        return json_safe(value.item())
    return str(value)
