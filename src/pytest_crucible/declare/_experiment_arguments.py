"""The checks of `Experiment(...)`'s arguments (experiment.py): each bad value gets an
`ExperimentError` that names the experiment and says what to pass instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_crucible.declare.hooks import Hooks
from pytest_crucible.declare.metrics import Metric
from pytest_crucible.declare.policies import ErrorHandling
from pytest_crucible.declare.validation import MetricValidation, OnInvalid
from pytest_crucible.errors import ExperimentError
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["check_pass_at_k", "coerce_metrics", "labels", "run_settings"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames


def check_pass_at_k(experiment: str, metrics: Mapping[str, Metric], repeat: int) -> None:
    """pass@K needs at least K repeats of each item."""
    for name, metric in metrics.items():
        for aggregate in metric.aggregates:
            if aggregate.kind == "pass_at_k" and aggregate.value > repeat:
                raise ExperimentError(
                    f"experiment {experiment}: metric {name!r} asks for {aggregate.name}, which "
                    f"needs at least {aggregate.value} repeats per item; the experiment has "
                    f"repeat={repeat}: raise repeat or lower K"
                )


def coerce_metrics(
    experiment: str, metrics: Mapping[str, Metric] | Sequence[str] | None
) -> dict[str, Metric]:
    if metrics is None:
        return {}
    if isinstance(metrics, str):
        raise ExperimentError(
            f"experiment {experiment}: metrics={metrics!r} must be a dict of Metric or a "
            "list of names, e.g. metrics=['correct']"
        )
    if not isinstance(metrics, Mapping):
        return {name: Metric() for name in metrics}
    for metric_name, metric in metrics.items():
        if not isinstance(metric, Metric):
            raise ExperimentError(
                f"experiment {experiment}: metric {metric_name!r} must be crucible.Metric(...), "
                f"got {metric!r:.60}"
            )
    return dict(metrics)


def run_settings(
    experiment: str, hooks: Any, handling: Any, validation: Any
) -> tuple[Hooks, ErrorHandling | None, MetricValidation | None]:
    where = f"experiment {experiment}"
    if hooks is not None and not isinstance(hooks, Hooks):
        raise ExperimentError(
            f"{where}: hooks={hooks!r:.60} must be crucible.Hooks(before_condition=..., ...)"
        )
    if handling is not None and not isinstance(handling, ErrorHandling):
        raise ExperimentError(
            f"{where}: error_handling={handling!r:.60} must be crucible.ErrorHandling(...)"
        )
    if validation is not None and not isinstance(validation, MetricValidation):
        raise ExperimentError(
            f"{where}: validation={validation!r:.60} must be crucible.MetricValidation(...)"
        )
    if validation is not None and validation.on_invalid is OnInvalid.RETRY and handling is None:
        raise ExperimentError(
            f"{where}: validation on_invalid='retry' reruns trials under the experiment's "
            "retry policy, and it has none; pass error_handling=crucible.ErrorHandling("
            "max_retries=3, ...) or choose on_invalid='log' or 'abort'"
        )
    return hooks or Hooks(), handling, validation


def labels(
    experiment: str, author: Any, version: Any, tags: Any
) -> tuple[str | None, str | None, tuple[str, ...]]:
    where = f"experiment {experiment}"
    for label, value in (("author", author), ("version", version)):
        if value is not None and not isinstance(value, str):
            raise ExperimentError(
                f"{where}: {label}={value!r} must be a string (or None), "
                f"e.g. {label}={str(value)!r}"
            )
    if isinstance(tags, str) or not isinstance(tags, Sequence | set | frozenset):
        raise ExperimentError(
            f"{where}: tags={tags!r:.60} must be a list of strings, e.g. tags=['baseline', 'h1']"
        )
    wrong = [tag for tag in tags if not isinstance(tag, str) or not tag]
    if wrong:
        raise ExperimentError(
            f"{where}: tags must be non-empty strings; {wrong[0]!r} is not "
            f"(tags={list(tags)!r:.80})"
        )
    return (
        author,
        version,
        tuple(dict.fromkeys(sorted(tags) if isinstance(tags, set | frozenset) else tags)),
    )
