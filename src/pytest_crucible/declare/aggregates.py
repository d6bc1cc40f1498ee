"""The per-condition aggregates a metric may declare beyond its mean: "median", "pNN"
(a percentile, 1 to 99) and "pass@K" (binary metrics: the chance that at least one of K
repeats of an item is correct)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_crucible.errors import ExperimentError

__all__ = ["Aggregate", "parse_aggregates"]

_PERCENTILE = re.compile(r"p(\d{1,2})")
_PASS_AT = re.compile(r"pass@(\d+)")
_HELP = (
    'use "mean", "median", "pNN" (a percentile from p1 to p99, e.g. "p95") or "pass@K" '
    '(K >= 1, binary metrics only), alone or as a tuple such as ("mean", "p95")'
)


@dataclass(frozen=True)
class Aggregate:
    """One parsed aggregate: kind is "mean", "percentile" or "pass_at_k"; value is the
    percentile (50 for the median) or K."""

    name: str
    kind: str
    value: int = 0


def parse_aggregates(spec: object, *, kind: str) -> tuple[Aggregate, ...]:
    """The aggregates of `Metric(aggregate=spec)`, each checked; `kind` is the metric's kind
    (pass@K is refused on a continuous metric)."""
    names = (spec,) if isinstance(spec, str) else spec
    if not isinstance(names, tuple | list) or not names:
        raise ExperimentError(f"Metric(aggregate={spec!r}) is not an aggregate; {_HELP}")
    parsed: list[Aggregate] = []
    for name in names:
        aggregate = _parse_one(name, spec)
        if aggregate.kind == "pass_at_k" and kind == "continuous":
            raise ExperimentError(
                f"Metric(aggregate={spec!r}): {name} needs pass/fail outcomes, but the metric "
                "is declared kind='continuous'; declare it kind='binary' (or drop pass@K)"
            )
        if aggregate.name in {a.name for a in parsed}:
            raise ExperimentError(f"Metric(aggregate={spec!r}) names {name!r} twice")
        parsed.append(aggregate)
    return tuple(parsed)


def _parse_one(name: object, spec: object) -> Aggregate:
    if not isinstance(name, str):
        raise ExperimentError(f"Metric(aggregate={spec!r}): {name!r} is not a string; {_HELP}")
    text = name.strip().lower()
    if text == "mean":
        return Aggregate("mean", "mean")
    if text == "median":
        return Aggregate("median", "percentile", 50)
    if match := _PERCENTILE.fullmatch(text):
        percent = int(match.group(1))
        if 1 <= percent <= 99:
            return Aggregate(f"p{percent}", "percentile", percent)
    elif match := _PASS_AT.fullmatch(text):
        k = int(match.group(1))
        if k >= 1:
            return Aggregate(f"pass@{k}", "pass_at_k", k)
        raise ExperimentError(
            f"Metric(aggregate={spec!r}): {name!r} asks for zero repeats; pass@K needs K >= 1"
        )
    raise ExperimentError(f"Metric(aggregate={spec!r}): {name!r} is not an aggregate; {_HELP}")
