"""`validate_metrics`: check a trial's metrics against their schemas; the `on_invalid` policy."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_crucible.declare.validation._coerce import check_value
from pytest_crucible.declare.validation._errors import MetricSchemaError, MetricValidationError
from pytest_crucible.declare.validation._schema import MetricSchema, flatten_schemas

__all__ = ["MetricValidation", "OnInvalid", "Problem", "ValidationResult", "validate_metrics"]


class OnInvalid(enum.StrEnum):
    """What a run does with a trial whose metrics break their schemas.

    LOG: store the trial without the invalid metrics (defaults are not substituted for
    them) and keep a warning on it naming each problem; the run goes on.
    RETRY: raise a retryable `MetricValidationError`, so the error-recovery policy runs the
    trial again (a sampled model may answer well next time); when retries run out the trial
    fails like any other.
    ABORT: raise a `MetricValidationError` with `stops_run=True`; the run stops (what was
    stored so far stays, and the run can be resumed).
    """

    LOG = "log"
    RETRY = "retry"
    ABORT = "abort"


@dataclass(frozen=True)
class Problem:
    """One broken rule: which trial (label), metric (dotted name), value and rule."""

    label: str | None
    metric: str
    value: Any
    rule: str

    @property
    def message(self) -> str:
        where = f"trial {self.label}: " if self.label else ""
        if self.rule == "required":
            return f"{where}metric {self.metric!r} is required but was not recorded"
        return f"{where}metric {self.metric!r} = {_show(self.value)} breaks {self.rule}"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ValidationResult:
    """`values`: the cleaned metrics, flat (maps as "name.key"), defaults filled in, invalid
    ones dropped; metrics without a schema pass through unchanged. `problems`: what broke."""

    values: dict[str, Any]
    problems: tuple[Problem, ...] = ()
    defaulted: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def messages(self) -> list[str]:
        return [problem.message for problem in self.problems]

    @property
    def dropped(self) -> list[str]:
        """Metrics that were recorded but dropped as invalid."""
        return [p.metric for p in self.problems if p.rule != "required"]


def validate_metrics(
    values: Mapping[str, Any],
    schemas: Mapping[str, MetricSchema],
    *,
    coerce: bool = False,
    label: str | None = None,
) -> ValidationResult:
    """Check `values` against `schemas` (see `ValidationResult`). A value of None counts as
    missing. `label` names the trial in problem messages (e.g. its test id)."""
    flatten_schemas(schemas)  # rejects bad declarations and colliding names early
    checker = _Checker(coerce, label)
    for name, schema in schemas.items():
        checker.check(name, values.get(name), schema)
    for name, value in values.items():
        if name not in schemas:
            checker.clean[name] = value
    return ValidationResult(checker.clean, tuple(checker.problems), tuple(checker.defaulted))


@dataclass
class _Checker:
    coerce: bool
    label: str | None
    clean: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)

    def check(self, name: str, value: Any, schema: MetricSchema) -> None:
        if value is None:
            self._missing(name, schema)
        elif schema.type == "map":
            self._check_map(name, value, schema)
        else:
            clean, rule = check_value(value, schema, coerce=self.coerce)
            if rule is None:
                self.clean[name] = clean
            else:
                self.problems.append(Problem(self.label, name, value, rule))

    def _missing(self, name: str, schema: MetricSchema) -> None:
        if schema.required:
            self.problems.append(Problem(self.label, name, None, "required"))
        elif schema.type == "map":
            for key, sub in (schema.fields or {}).items():
                self._missing(f"{name}.{key}", sub)
        elif schema.default is not None:
            self.clean[name] = schema.default
            self.defaulted.append(name)

    def _check_map(self, name: str, value: Any, schema: MetricSchema) -> None:
        fields = schema.fields or {}
        if not isinstance(value, Mapping):
            keys = ", ".join(fields)
            rule = f"type map (expected a dict with keys {keys})"
            self.problems.append(Problem(self.label, name, value, rule))
            return
        for key, sub in fields.items():
            self.check(f"{name}.{key}", value.get(key), sub)
        for key in value:
            if key not in fields:
                rule = f"the fields declared for {name!r} ({', '.join(fields)})"
                self.problems.append(Problem(self.label, f"{name}.{key}", value[key], rule))


@dataclass(frozen=True)
class MetricValidation:
    """An experiment's metric validation settings: schemas, coercion and `on_invalid`."""

    schemas: Mapping[str, MetricSchema] = field(hash=False)
    on_invalid: OnInvalid = OnInvalid.LOG
    coerce: bool = False

    def __post_init__(self) -> None:
        flatten_schemas(self.schemas)
        try:
            policy = OnInvalid(self.on_invalid)
        except ValueError:
            raise MetricSchemaError(
                f"MetricValidation(on_invalid={self.on_invalid!r}): use 'log', 'retry' or 'abort'"
            ) from None
        object.__setattr__(self, "on_invalid", policy)
        object.__setattr__(self, "schemas", dict(self.schemas))

    @property
    def flat_schemas(self) -> dict[str, MetricSchema]:
        """Leaf schemas by stored (dotted) metric name."""
        return flatten_schemas(self.schemas)

    def validate(self, values: Mapping[str, Any], *, label: str | None = None) -> ValidationResult:
        return validate_metrics(values, self.schemas, coerce=self.coerce, label=label)

    def enforce(self, values: Mapping[str, Any], *, label: str | None = None) -> ValidationResult:
        """Validate and apply the policy: under LOG return the result (store `values`, keep
        `messages` as warnings); under RETRY or ABORT raise `MetricValidationError` if
        anything broke."""
        result = self.validate(values, label=label)
        if result.problems and self.on_invalid is not OnInvalid.LOG:
            raise MetricValidationError(result.problems, self.on_invalid)
        return result


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
