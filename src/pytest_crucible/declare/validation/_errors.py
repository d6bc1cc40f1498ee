"""Exceptions of metric validation (all under `CrucibleError`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_crucible.errors import ExperimentError, MetricError

if TYPE_CHECKING:
    from pytest_crucible.declare.validation._validate import OnInvalid, Problem

__all__ = ["MetricSchemaError", "MetricValidationError"]


class MetricSchemaError(ExperimentError):
    """A `MetricSchema` is declared wrongly (min above max, a default that breaks it, ...)."""


class MetricValidationError(MetricError):
    """A trial's metrics broke their schemas and the policy says not to just log it.

    `problems` lists what broke; `retryable` is True under `on_invalid="retry"` (the
    recovery layer's classifier honours it) and `stops_run` is True under `"abort"`.
    """

    def __init__(self, problems: tuple[Problem, ...], policy: OnInvalid) -> None:
        lines = "; ".join(problem.message for problem in problems)
        super().__init__(f"{lines} (on_invalid={policy.value})")
        self.problems = problems
        self.policy = policy
        self.retryable = policy.value == "retry"
        self.stops_run = policy.value == "abort"
