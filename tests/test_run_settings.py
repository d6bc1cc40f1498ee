"""Experiment(hooks=, error_handling=, validation=): declarations checked when made."""

from __future__ import annotations

import pytest

import pytest_crucible as crucible
from pytest_crucible.declare.validation import probability


def _experiment(**settings: object) -> crucible.Experiment:
    return crucible.Experiment(
        "settings",
        dataset=[{"id": "x", "input": 1}],
        conditions={"same": lambda v: v},
        **settings,  # type: ignore[arg-type]
    )


def test_defaults_are_no_hooks_no_retry_policy_no_validation() -> None:
    exp = _experiment()
    assert exp.hooks == crucible.Hooks() and exp.error_handling is None and exp.validation is None


def test_hooks_must_be_callables() -> None:
    with pytest.raises(crucible.ExperimentError, match=r"Hooks\(on_error='retry'\): must be a"):
        crucible.Hooks(on_error="retry")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"hooks": {"on_error": print}}, "hooks=.* must be crucible.Hooks"),
        (
            {"error_handling": {"max_retries": 3}},
            "error_handling=.* must be crucible.ErrorHandling",
        ),
        ({"validation": {"p": probability()}}, "validation=.* must be crucible.MetricValidation"),
    ],
)
def test_settings_of_the_wrong_kind_name_what_to_pass(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(crucible.ExperimentError, match=f"experiment settings: {message}"):
        _experiment(**settings)


def test_retrying_invalid_metrics_needs_a_retry_policy() -> None:
    validation = crucible.MetricValidation({"p": probability()}, on_invalid="retry")
    with pytest.raises(crucible.ExperimentError, match=r"pass error_handling=crucible\.Error"):
        _experiment(validation=validation)
    exp = _experiment(validation=validation, error_handling=crucible.ErrorHandling(max_retries=1))
    assert exp.validation is validation
