"""check_value: accepting and rejecting values, with and without coercion."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_crucible.declare.validation import (
    MetricSchema,
    check_value,
    count,
    percentage,
    positive,
    probability,
)

FLOAT = MetricSchema(type="float")
INT = MetricSchema(type="int")
BOOL = MetricSchema(type="bool")

# (value, schema, clean value when coercing)
ACCEPTED_WHEN_COERCING = [
    ("0.85", FLOAT, 0.85),
    (" 0.85 ", FLOAT, 0.85),
    ("-3", FLOAT, -3.0),
    ("1e-3", FLOAT, 0.001),
    (".5", FLOAT, 0.5),
    ("85%", probability(), 0.85),
    ("85 %", probability(), 0.85),
    ("85%", percentage(), 85.0),
    ("0.5", probability(), 0.5),
    (True, FLOAT, 1.0),
    (False, probability(), 0.0),
    ("3", INT, 3),
    ("3.0", INT, 3),
    (3.0, INT, 3),
    (True, INT, 1),
    ("true", BOOL, True),
    ("False", BOOL, False),
    (" YES ", BOOL, True),
    ("no", BOOL, False),
    ("1", BOOL, True),
    (0, BOOL, False),
    (1.0, BOOL, True),
]

# values that are already clean: accepted with and without coercion
NATIVE = [
    (0.85, FLOAT, 0.85),
    (2, FLOAT, 2.0),
    (Fraction(1, 4), FLOAT, 0.25),
    (np.float64(0.5), probability(), 0.5),
    (np.float32(0.5), FLOAT, 0.5),
    (np.int64(7), count(), 7),
    (np.bool_(True), BOOL, True),
    (7, count(), 7),
    (True, BOOL, True),
    (1.0, probability(), 1.0),
    (0.0, probability(), 0.0),
]

# (value, schema, the start of the rule it breaks) - rejected even when coercing
REJECTED = [
    ("high", FLOAT, "type float (got str)"),
    ("", FLOAT, "type float (got str)"),
    ("nan", FLOAT, "type float (got str)"),
    ("inf", FLOAT, "type float (got str)"),
    ("1_000", FLOAT, "type float (got str)"),
    ("0x10", FLOAT, "type float (got str)"),
    ("0.85.1", FLOAT, "type float (got str)"),
    ("85%", FLOAT, "type float (not a number (declare probability() or percentage()"),
    ("%", probability(), "type float (not a number)"),
    ("abc%", probability(), "type float (not a number)"),
    (None, FLOAT, "type float (got NoneType)"),
    ([0.5], FLOAT, "type float (got list)"),
    ({"v": 1}, FLOAT, "type float (got dict)"),
    (b"0.5", FLOAT, "type float (got bytes)"),
    (float("nan"), FLOAT, "finite values only"),
    (float("inf"), FLOAT, "finite values only"),
    ("1e400", FLOAT, "finite values only"),
    (10**400, FLOAT, "finite values only"),
    (2.5, INT, "type int (2.5 is not integral)"),
    ("2.5", INT, "type int (2.5 is not integral)"),
    ("two", INT, "type int (got str)"),
    (float("nan"), INT, "finite values only"),
    ("maybe", BOOL, "type bool (got str)"),
    ("t", BOOL, "type bool (got str)"),
    (2, BOOL, "type bool (got int)"),
    (0.5, BOOL, "type bool (got float)"),
    (1.7, probability(), "max 1.0"),
    (-0.1, probability(), "min 0.0"),
    ("170%", probability(), "max 1.0"),
    ("170", probability(), "max 1.0"),
    (0.0, positive(), "min 0.0 (exclusive)"),
    (-1, count(), "min 0"),
    (101, percentage(), "max 100.0"),
    (1.0, MetricSchema(max=1.0, exclusive_max=True), "max 1.0 (exclusive)"),
]


@pytest.mark.parametrize(("value", "schema", "clean"), ACCEPTED_WHEN_COERCING + NATIVE)
def test_accepted_when_coercing(value: object, schema: MetricSchema, clean: object) -> None:
    got, rule = check_value(value, schema, coerce=True)
    assert rule is None
    assert got == clean and type(got) is type(clean)


@pytest.mark.parametrize(("value", "schema", "clean"), NATIVE)
def test_native_values_need_no_coercion(value: object, schema: MetricSchema, clean: object) -> None:
    got, rule = check_value(value, schema, coerce=False)
    assert rule is None
    assert got == clean and type(got) is type(clean)


@pytest.mark.parametrize(("value", "schema", "clean"), ACCEPTED_WHEN_COERCING)
def test_coercible_values_are_rejected_without_coercion_with_a_hint(
    value: object, schema: MetricSchema, clean: object
) -> None:
    got, rule = check_value(value, schema, coerce=False)
    assert got is None
    assert rule is not None and rule.endswith("coerce=True would convert it)")


@pytest.mark.parametrize("coerce", [True, False])
@pytest.mark.parametrize(("value", "schema", "rule"), REJECTED)
def test_rejected(value: object, schema: MetricSchema, rule: str, coerce: bool) -> None:
    got, broken = check_value(value, schema, coerce=coerce)
    assert got is None
    assert broken is not None
    if coerce or not broken.endswith("would convert it)"):
        assert broken.startswith(rule)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_the_repr_of_any_finite_float_coerces_back_to_it(number: float) -> None:
    assert check_value(repr(number), FLOAT, coerce=True) == (number, None)


@given(st.integers(-(10**15), 10**15))
def test_integers_and_their_integral_floats_coerce_to_int(number: int) -> None:
    assert check_value(str(number), INT, coerce=True) == (number, None)
    assert check_value(float(number), INT, coerce=True) == (number, None)


@given(st.text())
def test_text_is_never_guessed_at(text: str) -> None:
    """A string is accepted only if it spells a finite decimal number (perhaps with %)."""
    got, rule = check_value(text, probability(), coerce=True)
    stripped = text.strip().removesuffix("%").strip()
    try:
        spelled = float(stripped)
    except ValueError:
        spelled = math.nan
    if got is not None:
        assert rule is None
        assert math.isfinite(spelled) and "_" not in stripped
        assert 0.0 <= got <= 1.0
    else:
        assert rule is not None


@given(st.text())
def test_booleans_only_from_their_names(text: str) -> None:
    got, _ = check_value(text, BOOL, coerce=True)
    if got is not None:
        assert text.strip().lower() in {"true", "false", "yes", "no", "1", "0"}
