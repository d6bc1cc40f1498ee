"""validate_metrics, problem messages, maps, defaults and the on_invalid policy."""

from __future__ import annotations

import pytest

from pytest_crucible.declare.validation import (
    MetricSchema,
    MetricSchemaError,
    MetricValidation,
    MetricValidationError,
    OnInvalid,
    boolean,
    count,
    duration_ms,
    nested,
    probability,
    validate_metrics,
)
from pytest_crucible.errors import MetricError
from pytest_crucible.run.recovery import ErrorHandling, classify

SCHEMAS = {
    "accuracy": probability(required=True),
    "latency": duration_ms(default=0.0),
    "tokens": count(),
    "correct": boolean(),
}


def test_the_brief_message() -> None:
    result = validate_metrics({"accuracy": 1.7}, SCHEMAS, label="few_shot-France-r2")
    assert result.messages == ["trial few_shot-France-r2: metric 'accuracy' = 1.7 breaks max 1.0"]
    assert str(result.problems[0]) == result.messages[0]
    assert not result.ok
    assert result.dropped == ["accuracy"]


def test_clean_values_with_defaults_filled() -> None:
    result = validate_metrics({"accuracy": 0.5, "tokens": 12, "correct": True}, SCHEMAS)
    assert result.ok and result.problems == ()
    assert result.values == {"accuracy": 0.5, "latency": 0.0, "tokens": 12, "correct": True}
    assert result.defaulted == ("latency",)


@pytest.mark.parametrize(
    ("values", "messages"),
    [
        ({}, ["trial t1: metric 'accuracy' is required but was not recorded"]),
        ({"accuracy": None}, ["trial t1: metric 'accuracy' is required but was not recorded"]),
        (
            {"accuracy": "high"},
            ["trial t1: metric 'accuracy' = 'high' breaks type float (got str)"],
        ),
        (
            {"accuracy": 0.5, "tokens": 2.5, "latency": -3},
            [
                "trial t1: metric 'latency' = -3 breaks min 0.0",
                "trial t1: metric 'tokens' = 2.5 breaks type int (2.5 is not integral)",
            ],
        ),
        (
            {"accuracy": "0.5"},
            [
                "trial t1: metric 'accuracy' = '0.5' breaks type float "
                "(got str; coerce=True would convert it)"
            ],
        ),
        (
            {"accuracy": float("nan")},
            [
                "trial t1: metric 'accuracy' = nan breaks finite values only "
                "(NaN and infinities cannot be stored)"
            ],
        ),
    ],
)
def test_problem_messages(values: dict[str, object], messages: list[str]) -> None:
    assert validate_metrics(values, SCHEMAS, label="t1").messages == messages


def test_without_a_label_messages_start_at_the_metric() -> None:
    result = validate_metrics({"accuracy": 2}, SCHEMAS)
    assert result.messages == ["metric 'accuracy' = 2 breaks max 1.0"]


def test_long_values_are_shortened_in_messages() -> None:
    result = validate_metrics({"accuracy": "x" * 500}, SCHEMAS, label="t")
    assert len(result.messages[0]) < 200 and "..." in result.messages[0]


def test_invalid_metrics_are_dropped_and_not_replaced_by_defaults() -> None:
    result = validate_metrics({"accuracy": 0.5, "latency": "fast"}, SCHEMAS, coerce=True)
    assert result.values == {"accuracy": 0.5}
    assert result.dropped == ["latency"] and result.defaulted == ()


def test_coercion_cleans_values() -> None:
    values = {"accuracy": "85%", "latency": "120.5", "tokens": 30.0, "correct": "true"}
    result = validate_metrics(values, SCHEMAS, coerce=True)
    assert result.ok
    assert result.values == {"accuracy": 0.85, "latency": 120.5, "tokens": 30, "correct": True}


def test_metrics_without_a_schema_pass_through() -> None:
    result = validate_metrics({"accuracy": 1.0, "extra": "anything"}, SCHEMAS)
    assert result.values["extra"] == "anything" and result.ok


NESTED = {
    "accuracy": probability(),
    "scores": nested(
        rouge_l=probability(required=True),
        bleu=probability(default=0.0),
        detail=nested(f1=probability()),
    ),
}


def test_maps_flatten_to_dotted_names() -> None:
    values = {"accuracy": 1.0, "scores": {"rouge_l": 0.4, "bleu": 0.2, "detail": {"f1": 0.7}}}
    result = validate_metrics(values, NESTED)
    assert result.ok
    assert result.values == {
        "accuracy": 1.0,
        "scores.rouge_l": 0.4,
        "scores.bleu": 0.2,
        "scores.detail.f1": 0.7,
    }


def test_map_problems_use_dotted_names() -> None:
    values = {"scores": {"rouge_l": 1.4, "meteor": 0.3, "detail": 0.5}}
    result = validate_metrics(values, NESTED, label="t")
    assert result.messages == [
        "trial t: metric 'scores.rouge_l' = 1.4 breaks max 1.0",
        "trial t: metric 'scores.detail' = 0.5 breaks type map (expected a dict with keys f1)",
        "trial t: metric 'scores.meteor' = 0.3 breaks the fields declared for 'scores' "
        "(rouge_l, bleu, detail)",
    ]
    assert result.values == {"scores.bleu": 0.0}


def test_a_missing_map_reports_its_required_fields_and_fills_defaults() -> None:
    result = validate_metrics({}, NESTED, label="t")
    assert result.messages == ["trial t: metric 'scores.rouge_l' is required but was not recorded"]
    assert result.values == {"scores.bleu": 0.0}


def test_a_required_map() -> None:
    schemas = {"scores": MetricSchema(type="map", fields={"a": probability()}, required=True)}
    result = validate_metrics({}, schemas, label="t")
    assert result.messages == ["trial t: metric 'scores' is required but was not recorded"]


def test_bad_schemas_are_rejected_before_validating() -> None:
    with pytest.raises(MetricSchemaError, match="not a MetricSchema"):
        validate_metrics({}, {"accuracy": {"type": "float"}})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("policy", "retryable", "stops_run"),
    [(OnInvalid.RETRY, True, False), (OnInvalid.ABORT, False, True)],
)
def test_enforce_raises_under_retry_and_abort(
    policy: OnInvalid, retryable: bool, stops_run: bool
) -> None:
    validation = MetricValidation(SCHEMAS, on_invalid=policy)
    with pytest.raises(MetricValidationError, match=r"'accuracy' = 3 breaks max 1.0") as info:
        validation.enforce({"accuracy": 3}, label="t")
    error = info.value
    assert isinstance(error, MetricError)
    assert (error.retryable, error.stops_run) == (retryable, stops_run)
    assert error.policy is policy and len(error.problems) == 1
    # the recovery layer reads the flag: retry under RETRY, permanent under ABORT
    assert classify(error, ErrorHandling()) == ("retry" if retryable else "permanent")


def test_enforce_under_log_returns_the_result() -> None:
    validation = MetricValidation(SCHEMAS, on_invalid="log", coerce=True)  # type: ignore[arg-type]
    assert validation.on_invalid is OnInvalid.LOG
    result = validation.enforce({"accuracy": 3, "tokens": "4"}, label="t")
    assert result.values == {"latency": 0.0, "tokens": 4}
    assert result.messages == ["trial t: metric 'accuracy' = 3 breaks max 1.0"]


def test_enforce_passes_clean_values_under_every_policy() -> None:
    for policy in OnInvalid:
        result = MetricValidation(SCHEMAS, on_invalid=policy).enforce({"accuracy": 1})
        assert result.ok and result.values["accuracy"] == 1.0


def test_validation_settings_are_checked() -> None:
    with pytest.raises(MetricSchemaError, match=r"on_invalid='skip'.*'log', 'retry' or 'abort'"):
        MetricValidation(SCHEMAS, on_invalid="skip")  # type: ignore[arg-type]
    with pytest.raises(MetricSchemaError, match="declared twice"):
        MetricValidation({"a.b": probability(), "a": nested(b=probability())})
    flat = MetricValidation(NESTED).flat_schemas
    assert list(flat) == ["accuracy", "scores.rouge_l", "scores.bleu", "scores.detail.f1"]
