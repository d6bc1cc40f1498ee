"""An experiment's configuration: a schema of typed fields, or a pydantic model.

`ConfigSchema` holds typed `Field`s (default, min, max, label, description, required,
choices). `--crucible-set key=value` overrides a field; values given as text on the command
line are parsed to the field's type. Every validation error names the field and the rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_crucible.errors import ConfigError

__all__ = [
    "ConfigSchema",
    "Field",
    "describe_schema",
    "parse_overrides",
    "resolve_config",
    "schema_from_description",
]

_TYPES: dict[str, type | tuple[type, ...]] = {
    "integer": int,
    "float": (int, float),
    "string": str,
    "boolean": bool,
    "list": (list, tuple),
    "dict": dict,
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Field:
    """One typed configuration field."""

    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    label: str = ""
    description: str = ""
    required: bool = False
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ConfigError(
                f"Field(type={self.type!r}) is not a field type; use one of {sorted(_TYPES)}"
            )


@dataclass(frozen=True)
class ConfigSchema:
    """A named set of typed fields, e.g. ConfigSchema(model=Field("string", default="x"))."""

    fields: Mapping[str, Field] = field(default_factory=dict)

    def __init__(self, fields: Mapping[str, Field] | None = None, **named: Field) -> None:
        object.__setattr__(self, "fields", {**(fields or {}), **named})

    def validate(self, values: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Defaults filled in, every value checked; raises ConfigError naming the field."""
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            raise ConfigError(
                f"{where}: unknown config field(s) {unknown}; "
                f"the fields are {sorted(self.fields) or '(none)'}"
            )
        resolved: dict[str, Any] = {}
        for name, spec in self.fields.items():
            if name in values:
                resolved[name] = _check(name, spec, values[name], where)
            elif spec.required and spec.default is None:
                raise ConfigError(f"{where}: config field {name!r} is required and has no value")
            else:
                resolved[name] = spec.default
        return resolved


def _check(name: str, spec: Field, value: Any, where: str) -> Any:
    if isinstance(value, str) and spec.type != "string":
        value = _parse_text(name, spec, value, where)
    expected = _TYPES[spec.type]
    wrong_bool = isinstance(value, bool) and spec.type in ("integer", "float")
    if value is not None and (wrong_bool or not isinstance(value, expected)):
        raise ConfigError(
            f"{where}: config field {name!r} must be of type {spec.type}, "
            f"got {value!r} ({type(value).__name__})"
        )
    if value is None:
        if spec.required:
            raise ConfigError(f"{where}: config field {name!r} is required and has no value")
        return value
    if spec.type == "float":
        value = float(value)  # type: ignore[arg-type]
    if spec.min is not None and value < spec.min:
        raise ConfigError(f"{where}: config field {name!r} = {value!r} is below min {spec.min}")
    if spec.max is not None and value > spec.max:
        raise ConfigError(f"{where}: config field {name!r} = {value!r} is above max {spec.max}")
    if spec.choices is not None and value not in spec.choices:
        raise ConfigError(
            f"{where}: config field {name!r} = {value!r} is not one of {list(spec.choices)}"
        )
    return value


def _parse_text(name: str, spec: Field, text: str, where: str) -> Any:
    try:
        if spec.type == "integer":
            return int(text)
        if spec.type == "float":
            return float(text)
        if spec.type == "boolean":
            lowered = text.strip().lower()
            if lowered in _TRUE | _FALSE:
                return lowered in _TRUE
            raise ValueError(text)
        return json.loads(text)
    except ValueError:
        raise ConfigError(
            f"{where}: config field {name!r} must be of type {spec.type}, "
            f"cannot read {text!r} as one"
        ) from None


def resolve_config(schema: Any, values: Mapping[str, Any], where: str) -> Any:
    """Validate `values` against a ConfigSchema (-> dict) or a pydantic model (-> instance)."""
    if schema is None:
        if values:
            raise ConfigError(
                f"{where}: has no config schema, so {sorted(values)} cannot be set; "
                "declare config=crucible.ConfigSchema(...) or a pydantic model"
            )
        return {}
    if isinstance(schema, ConfigSchema):
        return schema.validate(values, where)
    if _is_pydantic_model(schema):
        return _validate_pydantic(schema, values, where)
    if isinstance(schema, Mapping):
        return ConfigSchema(_infer_fields(schema)).validate(values, where)
    raise ConfigError(
        f"{where}: config={schema!r:.80} is not a config; use crucible.ConfigSchema(...), "
        "a pydantic model class, or a dict of defaults"
    )


def _infer_fields(defaults: Mapping[str, Any]) -> dict[str, Field]:
    """A plain dict of defaults becomes a schema whose types are the defaults' types."""
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "list"}
    fields: dict[str, Field] = {}
    for key, default in defaults.items():
        kind = names.get(type(default), "dict" if isinstance(default, dict) else "string")
        fields[key] = Field(kind, default=default)
    return fields


def _is_pydantic_model(schema: Any) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return isinstance(schema, type) and issubclass(schema, BaseModel)


def _validate_pydantic(model: Any, values: Mapping[str, Any], where: str) -> Any:
    from pydantic import ValidationError

    unknown = sorted(set(values) - set(model.model_fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown config field(s) {unknown}; "
            f"the fields are {sorted(model.model_fields)}"
        )
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(map(str, e['loc']))!r}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        )
        raise ConfigError(f"{where}: invalid config: {problems}") from None


def describe_schema(schema: Any) -> dict[str, Any]:
    """A config schema as JSON-safe data, for forms and agents (`crucible serve`): `kind`
    (none, fields or pydantic) and each field's type, default, min, max, label, description,
    required and choices; a pydantic model's own JSON Schema too."""
    if schema is None:
        return {"kind": "none", "fields": {}}
    if isinstance(schema, ConfigSchema):
        return {"kind": "fields", "fields": _described_fields(schema.fields)}
    if isinstance(schema, Mapping):
        return {"kind": "fields", "fields": _described_fields(_infer_fields(schema))}
    if _is_pydantic_model(schema):
        json_schema = schema.model_json_schema()
        fields = _pydantic_fields(json_schema, schema)
        return {"kind": "pydantic", "fields": fields, "json_schema": json_schema}
    return {"kind": "none", "fields": {}}


def schema_from_description(description: Mapping[str, Any]) -> ConfigSchema:
    """The `ConfigSchema` of a `describe_schema` description: a pydantic model's fields as
    far as they are types, limits and choices (the run itself validates with the model)."""
    fields = {
        name: Field(
            type=spec["type"],
            default=spec.get("default"),
            min=spec.get("min"),
            max=spec.get("max"),
            label=spec.get("label", ""),
            description=spec.get("description", ""),
            required=bool(spec.get("required")),
            choices=None if spec.get("choices") is None else tuple(spec["choices"]),
        )
        for name, spec in description.get("fields", {}).items()
    }
    return ConfigSchema(fields)


def _described_fields(fields: Mapping[str, Field]) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "type": spec.type,
            "default": spec.default,
            "min": spec.min,
            "max": spec.max,
            "label": spec.label or name,
            "description": spec.description,
            "required": spec.required,
            "choices": None if spec.choices is None else list(spec.choices),
        }
        for name, spec in fields.items()
    }


_JSON_TYPES = {
    "integer": "integer",
    "number": "float",
    "string": "string",
    "boolean": "boolean",
    "array": "list",
    "object": "dict",
}


def _pydantic_fields(json_schema: Mapping[str, Any], model: Any) -> dict[str, dict[str, Any]]:
    required = set(json_schema.get("required", ()))
    fields: dict[str, dict[str, Any]] = {}
    for name, prop in json_schema.get("properties", {}).items():
        default = model.model_fields[name].default if name in model.model_fields else None
        fields[name] = {
            "type": _json_type(prop),
            "default": None if name in required else _json_safe(default),
            "min": prop.get("minimum", prop.get("exclusiveMinimum")),
            "max": prop.get("maximum", prop.get("exclusiveMaximum")),
            "label": prop.get("title", name),
            "description": prop.get("description", ""),
            "required": name in required,
            "choices": prop.get("enum"),
        }
    return fields


def _json_type(prop: Mapping[str, Any]) -> str:
    """A JSON Schema property's type as a field type (`Optional[int]`: its anyOf's first
    type that is not null)."""
    kinds = [prop.get("type")] + [option.get("type") for option in prop.get("anyOf", ())]
    for kind in kinds:
        if kind in _JSON_TYPES:
            return _JSON_TYPES[kind]
    return "string"


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A resolved config (dict or pydantic instance) as a JSON-safe dict."""
    if hasattr(config, "model_dump"):
        return dict(config.model_dump(mode="json"))
    return dict(config)


def parse_overrides(pairs: list[str]) -> list[tuple[str | None, str, str]]:
    """`--crucible-set` values as (experiment or None, key, raw value) triples.

    `key=value` applies to every experiment that has the field; `experiment.key=value` to
    one experiment. Raises ConfigError for a value without `=`.
    """
    parsed: list[tuple[str | None, str, str]] = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"--crucible-set {pair!r}: expected KEY=VALUE or EXPERIMENT.KEY=VALUE, "
                "e.g. --crucible-set temperature=0.7"
            )
        experiment, dot, field_name = key.rpartition(".")
        parsed.append((experiment if dot else None, field_name, value))
    return parsed
