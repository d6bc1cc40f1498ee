"""A condition's estimate and interval on a metric, as the session-end analysis has it.

Threshold gates on mean / ci_low / ci_high use the numbers of the results table: taken from
the RunAnalysis (or its stored dict form) when one is given, else computed by
`pytest_crucible.review.analysis.analyze` on that condition alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.declare.metrics import Metric
from pytest_crucible.review.analysis import analyze
from pytest_crucible.review.gates._frames import MetricInfo

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Summary", "condition_summary"]


@dataclass(frozen=True)
class Summary:
    mean: float
    ci: tuple[float, float]
    n_items: int
    method: str
    level: float


def condition_summary(
    analysis: Any, trials: pd.DataFrame, condition: str, info: MetricInfo
) -> Summary:
    """The analysis's summary of `condition` on `info.name`, computed when not in it."""
    found = _from_analysis(analysis, condition, info.name)
    if found is not None:
        return found
    kind = info.kind if info.kind in ("binary", "continuous") else "auto"
    metric = Metric(kind=kind, lower_is_better=info.lower_is_better)  # type: ignore[arg-type]
    computed = analyze(trials, conditions=[condition], baseline=None, metrics={info.name: metric})
    summary = computed.metrics[0].conditions[0]
    return Summary(
        summary.mean, summary.ci, summary.n_items, summary.method, computed.settings.level
    )


def _from_analysis(analysis: Any, condition: str, metric: str) -> Summary | None:
    if analysis is None:
        return None
    data = analysis.to_dict() if hasattr(analysis, "to_dict") else analysis
    if not isinstance(data, Mapping):
        return None
    level = float((data.get("settings") or {}).get("level", 0.95))
    for entry in data.get("metrics") or ():
        if entry.get("name") != metric:
            continue
        for summary in entry.get("conditions") or ():
            if summary.get("condition") == condition:
                ci = summary.get("ci") or (None, None)
                return Summary(
                    _number(summary.get("mean")),
                    (_number(ci[0]), _number(ci[1])),
                    int(summary.get("n_items") or 0),
                    str(summary.get("method", "")),
                    level,
                )
    return None


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
