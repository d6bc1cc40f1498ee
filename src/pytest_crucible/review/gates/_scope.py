"""Which gates apply to which experiment, and the check made at collection.

An experiment's own gates (`Experiment(gates=...)`) apply to it. A command-line gate written
`EXPERIMENT:EXPR` applies to that experiment alone; one without a prefix applies to every
experiment whose conditions it names (a `*` gate to every experiment). At collection, when
the metrics a run will record are not known yet, a gate's grammar and its condition names are
checked; its metric is checked when the gates are decided, against the recorded metrics.

Pure and light: the pytest process imports this module (no numpy, pandas or scipy).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from pytest_crucible.review.gates._errors import GateError
from pytest_crucible.review.gates._grammar import parse_gate

__all__ = ["check_gates", "gates_of", "split_scope"]


def split_scope(text: str, experiments: Collection[str]) -> tuple[str | None, str]:
    """("demo", "terse.correct >= 0.5") for "demo: terse.correct >= 0.5" when an experiment
    is named demo; (None, text) otherwise (a condition name may contain a colon)."""
    head, colon, rest = str(text).partition(":")
    if colon and head.strip() in experiments:
        return head.strip(), rest.strip()
    return None, str(text)


def gates_of(
    experiment: str,
    conditions: Sequence[str],
    declared: Sequence[str],
    command_line: Sequence[str],
    experiments: Collection[str],
) -> list[str]:
    """The gate expressions that apply to `experiment`: its own, then the command line's
    that are scoped to it or name its conditions."""
    chosen = list(declared)
    for text in command_line:
        scope, expression = split_scope(text, experiments)
        if scope == experiment or (scope is None and _applies(expression, conditions)):
            chosen.append(expression)
    return chosen


def check_gates(
    experiments: Mapping[str, tuple[Sequence[str], Sequence[str]]],
    command_line: Sequence[str],
) -> list[str]:
    """What is wrong with the gates of a session (each message names the gate and the fix).

    experiments: name -> (its conditions, its declared gates); command_line: the
    `--crucible-gate` values. A command-line gate must apply to some experiment."""
    problems = []
    for name, (conditions, declared) in experiments.items():
        for text in declared:
            try:
                parse_gate(text, conditions=conditions, metrics=None)
            except GateError as error:
                problems.append(f"experiment {name}, gates=[...]: {error}")
    for text in command_line:
        scope, expression = split_scope(text, experiments)
        targets = [scope] if scope is not None else list(experiments)
        errors = []
        for name in targets:
            try:
                parse_gate(expression, conditions=experiments[name][0], metrics=None)
                break
            except GateError as error:
                errors.append(f"{error}" if len(targets) == 1 else f"{name}: {error}")
        else:
            problems.append(_no_experiment(text, errors, experiments))
    return problems


def _applies(expression: str, conditions: Sequence[str]) -> bool:
    try:
        parse_gate(expression, conditions=conditions, metrics=None)
    except GateError:
        return False
    return True


def _no_experiment(text: str, errors: list[str], experiments: Collection[str]) -> str:
    named = ", ".join(repr(e) for e in experiments)
    if len(errors) == 1:
        message = f"--crucible-gate: {errors[0]}"
    else:
        message = f"--crucible-gate {text!r} applies to no experiment ({'; '.join(errors)})"
    head = text.partition(":")[0].strip()
    if ":" in text and " " not in head:
        message += (
            f"; {head!r} is not an experiment: to limit a gate to one experiment write "
            f"EXPERIMENT:EXPR with one of {named}"
        )
    return message
