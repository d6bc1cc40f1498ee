"""Config schemas, pydantic models and `--crucible-set` parsing."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from pytest_crucible import ConfigError, ConfigSchema, Field
from pytest_crucible.declare.config import parse_overrides, resolve_config

SCHEMA = ConfigSchema(
    iterations=Field("integer", default=10, min=1, max=100, label="Iterations"),
    model=Field("string", default="gpt-4", required=True),
    temperature=Field("float", default=0.0, min=0.0, max=2.0),
    verbose=Field("boolean", default=False),
    style=Field("string", default="terse", choices=("terse", "chatty")),
)


def test_defaults_and_text_values_are_parsed_to_the_field_type() -> None:
    assert resolve_config(SCHEMA, {}, "exp") == {
        "iterations": 10,
        "model": "gpt-4",
        "temperature": 0.0,
        "verbose": False,
        "style": "terse",
    }
    values = {"iterations": "20", "temperature": "0.7", "verbose": "yes", "model": "x"}
    resolved = resolve_config(SCHEMA, values, "exp")
    assert (resolved["iterations"], resolved["temperature"], resolved["verbose"]) == (20, 0.7, True)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"iterations": "0"}, "config field 'iterations' = 0 is below min 1"),
        ({"iterations": 101}, "is above max 100"),
        ({"iterations": "ten"}, "must be of type integer, cannot read 'ten'"),
        ({"iterations": True}, "must be of type integer"),
        ({"verbose": "maybe"}, "must be of type boolean"),
        ({"style": "loud"}, "is not one of ['terse', 'chatty']"),
        ({"itrations": 3}, "unknown config field(s) ['itrations']"),
    ],
)
def test_validation_errors_name_field_and_rule(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_config(SCHEMA, values, "experiment capitals")
    assert message in str(raised.value) and "experiment capitals" in str(raised.value)


def test_required_field_without_value() -> None:
    schema = ConfigSchema(key=Field("string", required=True))
    with pytest.raises(ConfigError, match="'key' is required"):
        resolve_config(schema, {}, "exp")


def test_pydantic_model_and_dict_of_defaults() -> None:
    class Settings(BaseModel):
        model: str = "small"
        temperature: float = 0.0

    resolved = resolve_config(Settings, {"temperature": "0.5"}, "exp")
    assert resolved == Settings(model="small", temperature=0.5)
    with pytest.raises(ConfigError, match="field 'temperature'"):
        resolve_config(Settings, {"temperature": "warm"}, "exp")
    assert resolve_config({"k": 3}, {"k": "4"}, "exp") == {"k": 4}


def test_no_schema_refuses_values() -> None:
    assert resolve_config(None, {}, "exp") == {}
    with pytest.raises(ConfigError, match="has no config schema"):
        resolve_config(None, {"k": "1"}, "exp")


def test_parse_overrides() -> None:
    assert parse_overrides(["a=1", "exp.b=x=y", "c="]) == [
        (None, "a", "1"),
        ("exp", "b", "x=y"),
        (None, "c", ""),
    ]
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_overrides(["novalue"])
    with pytest.raises(ConfigError, match="not a field type"):
        Field("decimal")
