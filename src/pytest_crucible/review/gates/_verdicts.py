"""The records a comparison with a baseline returns: one verdict per condition x metric."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_crucible.review.gates._drift import Drift
from pytest_crucible.review.gates._errors import GateError
from pytest_crucible.review.gates._result import GateResult, fmt, json_number

__all__ = ["BaselineComparison", "MetricVerdict", "as_gate"]


@dataclass(frozen=True)
class MetricVerdict:
    """One condition x metric against the baseline.

    estimate: mean per-item difference, oriented (positive: the current run is better);
    lower_bound: its one-sided (1 - alpha) lower confidence bound; p_regression: one-sided
    p-value of H0 "d >= -margin" (p_regression_adjusted: Holm over the comparison's family).
    """

    condition: str
    metric: str
    verdict: str
    passed: bool
    margin: float
    alpha: float
    lower_is_better: bool
    current_mean: float
    baseline_mean: float
    estimate: float
    lower_bound: float
    p_regression: float
    p_regression_adjusted: float
    p_noninferior: float
    n_items: int
    n_clusters: int | None
    method: str
    items_needed: int | None
    explanation: str
    warning: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["notes"] = list(self.notes)
        return {k: json_number(v) if isinstance(v, float) else v for k, v in data.items()}


@dataclass(frozen=True)
class BaselineComparison:
    """The current run against a baseline: verdicts, and what differs between the runs."""

    baseline: str
    baseline_run_id: str
    experiment: str
    alpha: float
    strict: bool
    verdicts: tuple[MetricVerdict, ...]
    drift: Drift
    metrics_not_compared: tuple[str, ...] = ()
    not_compared: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def warnings(self) -> tuple[str, ...]:
        own = tuple(v.warning for v in self.verdicts if v.warning)
        return (*self.drift.warnings, *self.not_compared, *own)

    def verdict(self, condition: str, metric: str) -> MetricVerdict:
        for entry in self.verdicts:
            if (entry.condition, entry.metric) == (condition, metric):
                return entry
        raise GateError(
            f"no comparison of {condition}.{metric} with baseline {self.baseline!r}; compared: "
            + (", ".join(f"{v.condition}.{v.metric}" for v in self.verdicts) or "nothing")
        )

    def gate_results(self) -> list[GateResult]:
        """One GateResult per condition x metric (for summaries and JUnit test cases)."""
        return [as_gate(v, self.baseline) for v in self.verdicts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "baseline_run_id": self.baseline_run_id,
            "experiment": self.experiment,
            "alpha": self.alpha,
            "strict": self.strict,
            "passed": self.passed,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "drift": self.drift.to_dict(),
            "metrics_not_compared": list(self.metrics_not_compared),
            "not_compared": list(self.not_compared),
            "warnings": list(self.warnings),
        }


def as_gate(verdict: MetricVerdict, baseline: str) -> GateResult:
    return GateResult(
        name=f"{verdict.condition}.{verdict.metric} not worse than baseline {baseline!r}"
        f" by {fmt(verdict.margin)}",
        passed=verdict.passed,
        verdict=verdict.verdict,
        explanation=verdict.explanation,
        test=f"non-inferiority: one-sided {verdict.method} at alpha {fmt(verdict.alpha)}",
        observed=verdict.lower_bound,
        threshold=-verdict.margin,
        p_value=verdict.p_regression_adjusted,
        warning=verdict.warning,
        details=verdict.to_dict(),
    )
