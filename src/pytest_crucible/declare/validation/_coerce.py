"""Checking one metric value against its schema, converting it when coercion is on.

Coercion converts unambiguous spellings only: numeric strings ("0.85"), percentages when the
schema says how to read them ("85%"), "true"/"false"/"yes"/"no"/"1"/"0", 0/1 and True/False
between bools and numbers, and integral floats to ints. Anything else is rejected, never
guessed at.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_crucible.declare.validation._schema import MetricSchema

__all__ = ["Clean", "check_value"]

Clean = float | int | bool

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def check_value(
    value: Any, schema: MetricSchema, *, coerce: bool
) -> tuple[Clean | None, str | None]:
    """(clean value, None) if `value` fits `schema`, else (None, the rule it breaks), e.g.
    (None, "max 1.0") or (None, "type int (2.5 is not integral)")."""
    value = _unwrap_numpy(value)
    clean: Clean | None
    why: str | None
    if schema.type == "bool":
        clean, why = _to_bool(value, coerce)
    elif schema.type == "int":
        clean, why = _to_int(value, coerce)
    else:
        clean, why = _to_float(value, coerce, schema)
    if why is not None:
        return None, why
    assert clean is not None
    broken = _bounds(clean, schema)
    return (None, broken) if broken else (clean, None)


def _unwrap_numpy(value: Any) -> Any:
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    return value


def _to_bool(value: Any, coerce: bool) -> tuple[bool | None, str | None]:
    if isinstance(value, bool):
        return value, None
    if coerce:
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE, None
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value), None
    return None, _type_rule("bool", value, coerce, convertible=_bool_convertible(value))


def _bool_convertible(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE | _FALSE
    return isinstance(value, int | float) and value in (0, 1)


def _to_int(value: Any, coerce: bool) -> tuple[int | None, str | None]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    number = _number(value)
    if number is None:
        return None, _type_rule("int", value, coerce, convertible=False)
    if not math.isfinite(number):
        return None, "finite values only (NaN and infinities cannot be stored)"
    if not number.is_integer():
        return None, f"type int ({number!r} is not integral)"
    if not coerce:
        return None, _type_rule("int", value, coerce, convertible=True)
    return int(number), None


def _to_float(value: Any, coerce: bool, schema: MetricSchema) -> tuple[float | None, str | None]:
    native = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _percent(value, schema)
        if number is None:
            how = "" if schema.percent else " (declare probability() or percentage() to read %)"
            return None, f"type float (not a number{how})"
    else:
        number = _number(value)
        if number is None:
            return None, _type_rule("float", value, coerce, convertible=False)
    if not math.isfinite(number):
        return None, "finite values only (NaN and infinities cannot be stored)"
    if not native and not coerce:
        return None, _type_rule("float", value, coerce, convertible=True)
    return number, None


def _number(value: Any) -> float | None:
    """The number `value` spells (bools count as 0/1), or None."""
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError:
            return math.inf
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value.strip())
    return None


def _percent(value: str, schema: MetricSchema) -> float | None:
    number = _number(value.strip()[:-1])
    if number is None or schema.percent is None:
        return None
    return number / 100.0 if schema.percent == "fraction" else number


def _type_rule(kind: str, value: Any, coerce: bool, *, convertible: bool) -> str:
    got = type(value).__name__
    if convertible and not coerce:
        return f"type {kind} (got {got}; coerce=True would convert it)"
    return f"type {kind} (got {got})"


def _bounds(value: Clean, schema: MetricSchema) -> str | None:
    if isinstance(value, bool) and schema.type == "bool":
        return None
    lo, hi = schema.min, schema.max
    if lo is not None and (value <= lo if schema.exclusive_min else value < lo):
        return f"min {lo} (exclusive)" if schema.exclusive_min else f"min {lo}"
    if hi is not None and (value >= hi if schema.exclusive_max else value > hi):
        return f"max {hi} (exclusive)" if schema.exclusive_max else f"max {hi}"
    return None
