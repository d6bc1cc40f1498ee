"""`MetricSchema`: what values a metric may take, and helpers for the common shapes.

Every name defined here without a leading underscore is re-exported by the package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from pytest_crucible.declare.validation._coerce import check_value
from pytest_crucible.declare.validation._errors import MetricSchemaError

MetricType = Literal["float", "int", "bool", "map"]
Percent = Literal["fraction", "points"]

_TYPES = ("float", "int", "bool", "map")


@dataclass(frozen=True)
class MetricSchema:
    """The values a metric may take.

    type: "float" (any finite real number; ints are widened), "int", "bool", or "map" (a
    dict whose keys are declared in `fields`, each with its own schema; it is stored
    flattened as "name.key").
    min / max: inclusive bounds (exclusive with `exclusive_min` / `exclusive_max`).
    required: a missing value is a problem. default: the value filled in when a metric that
    is not required is missing (None: leave it missing).
    percent: how coercion reads "85%": "fraction" -> 0.85, "points" -> 85.0, None -> reject.
    unit, description: for reports and docs.
    """

    type: MetricType = "float"
    min: float | None = None
    max: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    required: bool = False
    default: float | bool | None = None
    unit: str = ""
    description: str = ""
    percent: Percent | None = None
    fields: Mapping[str, MetricSchema] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            _bad("type", self.type, "use 'float', 'int', 'bool' or 'map'")
        if self.type == "map":
            self._check_map()
            return
        if self.fields is not None:
            _bad("fields", "...", f"only type='map' has fields, not type={self.type!r}")
        self._check_bounds()
        if self.percent is not None:
            if self.percent not in ("fraction", "points"):
                _bad("percent", self.percent, "use 'fraction' (85% -> 0.85), 'points' or None")
            if self.type != "float":
                _bad("percent", self.percent, "only type='float' reads percentages")
        if self.default is not None:
            if self.required:
                _bad("default", self.default, "a required metric has no default; drop one")
            _, rule = check_value(self.default, self, coerce=False)
            if rule is not None:
                _bad("default", self.default, f"breaks the schema's own {rule}")

    @property
    def numeric(self) -> bool:
        return self.type in ("float", "int")

    def _check_bounds(self) -> None:
        for name in ("min", "max"):
            bound = getattr(self, name)
            if bound is None:
                continue
            if not self.numeric:
                _bad(name, bound, f"type={self.type!r} has no bounds")
            if isinstance(bound, bool) or not isinstance(bound, int | float):
                _bad(name, bound, "must be a number")
            if not math.isfinite(bound):
                _bad(name, bound, "must be finite (leave it None for no bound)")
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            empty = lo > hi or (lo == hi and (self.exclusive_min or self.exclusive_max))
            if empty:
                _bad("min", lo, f"leaves no value allowed with max={hi}")

    def _check_map(self) -> None:
        for name in ("min", "max", "default", "percent"):
            if getattr(self, name) is not None:
                _bad(name, getattr(self, name), "a map has no " + name + "; set it on its fields")
        if not isinstance(self.fields, Mapping) or not self.fields:
            _bad("fields", self.fields, "a map needs fields={'key': MetricSchema(...), ...}")
        for key, schema in self.fields.items():
            if not isinstance(key, str) or not key or "." in key:
                _bad("fields", key, "field names are non-empty strings without '.'")
            if not isinstance(schema, MetricSchema):
                _bad("fields", key, f"{key!r} maps to {schema!r}, not a MetricSchema")
        object.__setattr__(self, "fields", dict(self.fields))


def _bad(name: str, value: Any, why: str) -> NoReturn:
    raise MetricSchemaError(f"MetricSchema({name}={value!r}): {why}")


def flatten_schemas(schemas: Mapping[str, MetricSchema]) -> dict[str, MetricSchema]:
    """Every leaf schema under its stored (dotted) name: {"scores": nested(rouge_l=...)}
    gives {"scores.rouge_l": ...}. Raises if two names collide."""
    flat: dict[str, MetricSchema] = {}
    for name, schema in schemas.items():
        if not isinstance(name, str) or not name:
            raise MetricSchemaError(f"metric schema names are non-empty strings, got {name!r}")
        if not isinstance(schema, MetricSchema):
            raise MetricSchemaError(
                f"metric {name!r}: {schema!r} is not a MetricSchema; use MetricSchema(...) "
                "or a helper such as probability()"
            )
        leaves = (
            {f"{name}.{k}": v for k, v in flatten_schemas(schema.fields or {}).items()}
            if schema.type == "map"
            else {name: schema}
        )
        for leaf, leaf_schema in leaves.items():
            if leaf in flat:
                raise MetricSchemaError(
                    f"metric {leaf!r} is declared twice (a dotted name and a map field "
                    "flatten to the same name); rename one"
                )
            flat[leaf] = leaf_schema
    return flat


def probability(**options: Any) -> MetricSchema:
    """A float in [0, 1]; with coercion "85%" reads as 0.85."""
    return MetricSchema(
        **{"type": "float", "min": 0.0, "max": 1.0, "percent": "fraction", **options}
    )


def percentage(**options: Any) -> MetricSchema:
    """A float in [0, 100] (unit "%"); with coercion "85%" reads as 85.0."""
    base = {"type": "float", "min": 0.0, "max": 100.0, "percent": "points", "unit": "%"}
    return MetricSchema(**{**base, **options})


def positive(**options: Any) -> MetricSchema:
    """A float > 0."""
    return MetricSchema(**{"type": "float", "min": 0.0, "exclusive_min": True, **options})


def non_negative(**options: Any) -> MetricSchema:
    """A float >= 0."""
    return MetricSchema(**{"type": "float", "min": 0.0, **options})


def duration_ms(**options: Any) -> MetricSchema:
    """A duration in milliseconds: a float >= 0, unit "ms"."""
    return MetricSchema(**{"type": "float", "min": 0.0, "unit": "ms", **options})


def count(**options: Any) -> MetricSchema:
    """An int >= 0."""
    return MetricSchema(**{"type": "int", "min": 0, **options})


def boolean(**options: Any) -> MetricSchema:
    """A bool (pass/fail outcomes)."""
    return MetricSchema(**{"type": "bool", **options})


def nested(
    fields: Mapping[str, MetricSchema] | None = None, /, **named: MetricSchema
) -> MetricSchema:
    """A map of metrics, e.g. `nested(rouge_l=probability(), bleu=probability())`; stored
    flattened as "name.rouge_l", "name.bleu"."""
    return MetricSchema(type="map", fields={**(fields or {}), **named})
