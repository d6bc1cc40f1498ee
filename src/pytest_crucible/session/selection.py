"""Choosing what a session runs: `--crucible-set` values per experiment, the trials that
`--crucible-resume` / `--crucible-retry-failed` leave out, and trial functions that pytest
parametrizes beyond their trials (refused: their trials would share keys).

Pure functions of the session inputs and the collected items; the session applies them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pytest_crucible.declare.experiment import Experiment
from pytest_crucible.declare.plan import Plan
from pytest_crucible.declare.shards import Shard
from pytest_crucible.session.inputs import ResumeTarget
from pytest_crucible.session.items import TRIAL_PARAM, spec_of

__all__ = [
    "USAGE_REPORT",
    "overrides_for",
    "parametrized_trials",
    "split_resumed",
    "split_shard",
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
            name: (plan.condition_names, list(plan.experiment.gates))
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


def parametrized_trials(items: Sequence[pytest.Item]) -> list[str]:
    """Trial functions that pytest parametrizes beyond their trials (a parametrize mark, a
    parametrized fixture such as anyio's `anyio_backend`): each trial would run once per
    value and be stored under its one key, each copy overwriting the last. Also one that
    asks anyio for another backend than asyncio, which the session's loop cannot be."""
    extra: dict[str, dict[str, list[str]]] = {}  # function -> parameter -> its values
    refused: dict[str, str] = {}  # function -> its experiment
    seen: set[tuple[str, str]] = set()
    for item in items:
        spec = spec_of(item)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if spec is None or len(params) < 2:
            continue  # the usual trial: its one parameter is its slot
        function = item.nodeid.split("[", 1)[0]
        values = extra.setdefault(function, {})
        for name, value in params.items():
            known = values.setdefault(name, [])
            if name != TRIAL_PARAM and str(value) not in known:
                known.append(str(value))
        if (spec.experiment, spec.key) in seen or _not_asyncio(params.get(_ANYIO_BACKEND)):
            refused.setdefault(function, spec.experiment)
        seen.add((spec.experiment, spec.key))
    return [_parametrized_message(f, name, extra[f]) for f, name in refused.items()]


_ANYIO_BACKEND = "anyio_backend"


def _not_asyncio(backend: Any) -> bool:
    """Whether an `anyio_backend` value (a name, or (name, options)) names another backend."""
    if backend is None:
        return False
    name = backend[0] if isinstance(backend, tuple) and backend else backend
    return bool(name != "asyncio")


def foreign_anyio_backend(funcargs: Mapping[str, Any]) -> str | None:
    """Why a trial cannot run as its fixtures ask: an `anyio_backend` (set up for the trial,
    parametrized or not) naming another backend than asyncio. Only known once the fixture
    is set up, so checked as the trial starts."""
    backend = funcargs.get(_ANYIO_BACKEND)
    if not _not_asyncio(backend):
        return None
    name = backend[0] if isinstance(backend, tuple) else backend
    return f"anyio_backend is {name!r}, but " + _ANYIO_ADVICE


_ANYIO_ADVICE = (
    "pytest-crucible runs trial functions on its own asyncio event loop (async "
    "conditions and fixtures included): remove @pytest.mark.anyio from the trial "
    "function (or take it out of anyio's auto mode): trial functions need no async "
    'plugin. Or define a fixture `anyio_backend` of scope "session" that returns '
    '"asyncio".'
)


def _parametrized_message(function: str, experiment: str, params: dict[str, list[str]]) -> str:
    given = ", ".join(
        f"{name!r} ({', '.join(values)})" for name, values in params.items() if name != TRIAL_PARAM
    )
    message = (
        f"experiment {experiment}: {function} is parametrized by {given} besides its "
        "trials, so each trial would run once per value and be stored under one trial key, "
        "each copy overwriting the last. "
    )
    if _ANYIO_BACKEND in params:
        return message + _ANYIO_ADVICE
    return message + (
        "Declare what varies as conditions (conditions={...}) or as a config field set "
        "with --crucible-set, and remove the parametrization."
    )


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


def split_shard(
    items: Sequence[pytest.Item], shard: Shard
) -> tuple[list[pytest.Item], list[pytest.Item]]:
    """(items to run, trial items of other shards); items that are not trials stay."""
    keep: list[pytest.Item] = []
    elsewhere: list[pytest.Item] = []
    for item in items:
        spec = spec_of(item)
        (elsewhere if spec and not shard.holds(spec.key) else keep).append(item)
    return keep, elsewhere


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
