"""MetricSchema declarations and the helpers for common shapes."""

from __future__ import annotations

import pytest

from pytest_crucible.declare.validation import (
    MetricSchema,
    MetricSchemaError,
    boolean,
    count,
    duration_ms,
    flatten_schemas,
    nested,
    non_negative,
    percentage,
    positive,
    probability,
)
from pytest_crucible.errors import CrucibleError, ExperimentError


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"type": "str"}, "type"),
        ({"type": "float", "min": 2.0, "max": 1.0}, "min"),
        ({"type": "float", "min": 1.0, "max": 1.0, "exclusive_max": True}, "min"),
        ({"type": "float", "min": "0"}, "min"),
        ({"type": "float", "max": float("inf")}, "max"),
        ({"type": "bool", "min": 0}, "min"),
        ({"type": "float", "percent": "ratio"}, "percent"),
        ({"type": "int", "percent": "fraction"}, "percent"),
        ({"type": "float", "max": 1.0, "default": 2.0}, "default"),
        ({"type": "int", "default": 1.5}, "default"),
        ({"type": "bool", "default": 1}, "default"),
        ({"type": "float", "required": True, "default": 0.0}, "default"),
        ({"type": "float", "fields": {"a": MetricSchema()}}, "fields"),
        ({"type": "map"}, "fields"),
        ({"type": "map", "fields": {}}, "fields"),
        ({"type": "map", "fields": {"a.b": MetricSchema()}}, "fields"),
        ({"type": "map", "fields": {"a": "float"}}, "fields"),
        ({"type": "map", "fields": {"a": MetricSchema()}, "min": 0}, "min"),
        ({"type": "map", "fields": {"a": MetricSchema()}, "default": 0}, "default"),
    ],
)
def test_bad_declarations_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(MetricSchemaError, match=rf"MetricSchema\({field}="):
        MetricSchema(**options)  # type: ignore[arg-type]


def test_schema_errors_are_experiment_errors() -> None:
    with pytest.raises(ExperimentError) as info:
        MetricSchema(type="float", min=1, max=0)
    assert isinstance(info.value, CrucibleError)


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (probability(), ("float", 0.0, 1.0, False, "fraction", "")),
        (percentage(), ("float", 0.0, 100.0, False, "points", "%")),
        (positive(), ("float", 0.0, None, True, None, "")),
        (non_negative(), ("float", 0.0, None, False, None, "")),
        (duration_ms(), ("float", 0.0, None, False, None, "ms")),
        (count(), ("int", 0, None, False, None, "")),
        (boolean(), ("bool", None, None, False, None, "")),
    ],
)
def test_helpers(schema: MetricSchema, expected: tuple[object, ...]) -> None:
    got = (schema.type, schema.min, schema.max, schema.exclusive_min, schema.percent, schema.unit)
    assert got == expected


def test_helpers_take_overrides() -> None:
    schema = probability(required=True, description="exact match rate")
    assert schema.required and schema.description == "exact match rate" and schema.max == 1.0
    assert duration_ms(default=0.0).default == 0.0
    with pytest.raises(MetricSchemaError, match=r"default=-1.0"):
        duration_ms(default=-1.0)


def test_nested_and_flattening() -> None:
    schemas = {
        "accuracy": probability(),
        "scores": nested(rouge_l=probability(), inner=nested({"bleu": percentage()})),
    }
    assert list(flatten_schemas(schemas)) == ["accuracy", "scores.rouge_l", "scores.inner.bleu"]


def test_flattened_names_must_not_collide() -> None:
    schemas = {"scores.rouge_l": probability(), "scores": nested(rouge_l=probability())}
    with pytest.raises(MetricSchemaError, match=r"'scores.rouge_l' is declared twice"):
        flatten_schemas(schemas)


@pytest.mark.parametrize(
    ("schemas", "match"),
    [({"": probability()}, "non-empty strings"), ({"acc": "float"}, "not a MetricSchema")],
)
def test_flatten_rejects_bad_entries(schemas: dict[str, object], match: str) -> None:
    with pytest.raises(MetricSchemaError, match=match):
        flatten_schemas(schemas)  # type: ignore[arg-type]


def test_schemas_are_hashable_values() -> None:
    assert probability() == probability()
    assert hash(probability()) == hash(probability())
    assert {nested(a=count()): 1}


def test_every_public_name_defined_in_the_schema_module_is_exported_by_the_package() -> None:
    import ast
    import inspect

    from pytest_crucible.declare import validation
    from pytest_crucible.declare.validation import _schema

    tree = ast.parse(inspect.getsource(_schema))
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)
    } | {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    public = {name for name in defined if not name.startswith("_")}
    assert {"MetricSchema", "MetricType", "nested", "probability"} <= public
    assert public <= set(validation.__all__)
    assert all(getattr(validation, name) is getattr(_schema, name) for name in public)
