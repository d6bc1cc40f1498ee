"""Choosing what a session runs: `--crucible-set` values per experiment, and the trials that
`--crucible-resume` / `--crucible-retry-failed` leave out.

Pure functions of the session inputs and the collected items; the session applies them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pytest_crucible.declare.experiment import Experiment, Plan
from pytest_crucible.session.inputs import ResumeTarget
from pytest_crucible.session.items import spec_of

__all__ = [
    "USAGE_REPORT",
    "overrides_for",
    "split_resumed",
    "stale_retry_warnings",
    "unused_override",
    "usage_problems",
]

Override = tuple[str | None, str, str]  # (experiment or None, key, value) of --crucible-set
# The node id of the failed collection report that carries the session's usage problems.
USAGE_REPORT = "crucible: usage"


def overrides_for(
    experiment: Experiment, overrides: Sequence[Override], used: set[tuple[str | None, str]]
) -> dict[str, str]:
    """`--crucible-set` values for this experiment: qualified ones always (validation names
    an unknown field), unqualified ones when the experiment has that field. Adds the ones
    taken to `used`."""
    fields = config_fields(experiment.config_schema)
    chosen: dict[str, str] = {}
    for exp, key, value in overrides:
        qualified = exp == experiment.name
        if qualified or (exp is None and (fields is None or key in fields)):
            chosen[key] = value
            used.add((exp, key))
    return chosen


def usage_problems(
    plans: Mapping[str, Plan],
    overrides: Sequence[Override],
    used: set[tuple[str | None, str]],
    command_line_gates: Sequence[str],
) -> list[str]:
    """Once every experiment is collected: a `--crucible-set` that no experiment took, and
    gates (declared or `--crucible-gate`) that do not parse or apply to no experiment."""
    problems = []
    unused = unused_override(overrides, used, plans)
    if unused is not None:
        problems.append(unused)
    declared = [plan.experiment.gates for plan in plans.values()]
    if plans and (command_line_gates or any(declared)):
        from pytest_crucible.review.gates import check_gates

        names = {
            name: (list(plan.experiment.conditions), list(plan.experiment.gates))
            for name, plan in plans.items()
        }
        problems += check_gates(names, command_line_gates)
    return problems


def unused_override(
    overrides: Sequence[Override],
    used: set[tuple[str | None, str]],
    plans: Mapping[str, Plan],
) -> str | None:
    """A message for the first `--crucible-set` that no collected experiment took."""
    if not plans:
        return None
    for exp, key, _ in overrides:
        if (exp, key) in used:
            continue
        if exp is not None:
            return (
                f"--crucible-set {exp}.{key}: no experiment named {exp!r} was collected; "
                f"the experiments are {sorted(plans)}"
            )
        fields = {
            name: sorted(config_fields(plan.experiment.config_schema) or [])
            for name, plan in plans.items()
        }
        return (
            f"--crucible-set {key}=...: no collected experiment has a config field "
            f"{key!r}; the fields are {fields}"
        )
    return None


def split_resumed(
    items: Sequence[pytest.Item], resume: Mapping[str, ResumeTarget]
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """(items to run, trial items the resumed runs already have)."""
    keep: list[pytest.Item] = []
    done: list[pytest.Item] = []
    for item in items:
        spec = spec_of(item)
        target = resume.get(spec.experiment) if spec else None
        (done if spec and target and target.skips(spec.key) else keep).append(item)
    return keep, done


def stale_retry_warnings(
    items: Sequence[pytest.Item], resume: Mapping[str, ResumeTarget]
) -> list[str]:
    """--crucible-retry-failed matches failed trials by key: say so when some match nothing
    (their code, config or data changed) instead of silently running none."""
    collected: dict[str, set[str]] = {}
    for item in items:
        spec = spec_of(item)
        if spec is not None:
            collected.setdefault(spec.experiment, set()).add(spec.key)
    warnings = []
    for name, target in resume.items():
        stale = len(target.only - collected[name]) if target.only and name in collected else 0
        if stale:
            warnings.append(
                f"--crucible-retry-failed: {stale} failed trial(s) of run {target.run_id} "
                f"of {name!r} match no collected trial (their condition's code, the "
                "config or the data changed since), so they do not run; "
                "--crucible-resume runs every trial that did not pass or whose code, "
                "config or data changed"
            )
    return warnings


def config_fields(schema: Any) -> set[str] | None:
    """The field names of a config schema; None when any key is allowed to reach validation."""
    if schema is None:
        return set()
    fields = getattr(schema, "fields", None) or getattr(schema, "model_fields", None)
    if isinstance(fields, dict):
        return set(fields)
    if isinstance(schema, dict):
        return set(schema)
    return None
