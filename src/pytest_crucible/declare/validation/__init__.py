"""Metric validation: schemas for the values a trial records, coercion, the on_invalid policy.

Pure (no pytest):

- `MetricSchema(type=..., min=..., max=..., required=..., default=..., unit=...)` and helpers
  `probability()`, `percentage()`, `positive()`, `non_negative()`, `duration_ms()`,
  `count()`, `boolean()`, `nested(...)` (maps, stored flattened as "name.key");
- `validate_metrics(values, schemas, coerce=..., label=...)` -> `ValidationResult` (cleaned
  flat values with defaults filled in, and `Problem`s that render as messages naming the
  trial, the metric, the value and the rule);
- `MetricValidation(schemas, on_invalid=OnInvalid.LOG, coerce=False)` bundles the settings;
  `.enforce(values, label=...)` applies the policy.

See docs/recovery.md ("Metric validation").
"""

from __future__ import annotations

from pytest_crucible.declare.validation._coerce import Clean, check_value
from pytest_crucible.declare.validation._errors import MetricSchemaError, MetricValidationError
from pytest_crucible.declare.validation._schema import (
    MetricSchema,
    MetricType,
    Percent,
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
from pytest_crucible.declare.validation._validate import (
    MetricValidation,
    OnInvalid,
    Problem,
    ValidationResult,
    validate_metrics,
)

__all__ = [
    "Clean",
    "MetricSchema",
    "MetricSchemaError",
    "MetricType",
    "MetricValidation",
    "MetricValidationError",
    "OnInvalid",
    "Percent",
    "Problem",
    "ValidationResult",
    "boolean",
    "check_value",
    "count",
    "duration_ms",
    "flatten_schemas",
    "nested",
    "non_negative",
    "percentage",
    "positive",
    "probability",
    "validate_metrics",
]
