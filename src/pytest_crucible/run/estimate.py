"""`--crucible-estimate`: what an experiment will cost and how long it will take, before it runs.

Per condition: the trial count, input and output tokens, the cost by the price table, and the
wall time. Each figure says where it comes from:

- measured (m): the experiment's newest stored run with passed trials: tokens and cost per
  trial, and the wall time per trial as that run ran (its trials' busy wall time, shared among
  conditions by their trials' durations; at that run's concurrency and process count), plus
  the time its sessions spent outside the trials (`ResultStore.sessions`);
- declared (d): the experiment's `Estimate(...)` (max_tokens, latency_s, prompt_tokens, model);
- guessed (g): the items' text and the prompt text in the conditions' code
  (`declare.conditions.prompt_text`) at about 4 characters per token, `max_tokens` of a
  backend's chat call (256) per call as output, 1 s per call.

It runs in the pytest process: plain Python over the store's own reads, no pandas.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import ExperimentError
from pytest_crucible.run.history import History, MeasuredCondition

if TYPE_CHECKING:
    from pytest_crucible.declare.plan import Plan, TrialSpec
    from pytest_crucible.llm.pricing import PriceTable

__all__ = [
    "ASSUMED_LATENCY_S",
    "ConditionEstimate",
    "Estimate",
    "Figure",
    "estimate_plan",
    "format_estimate",
]

ASSUMED_LATENCY_S = 1.0
CHARS_PER_TOKEN = 4
MEASURED, DECLARED, GUESSED = "m", "d", "g"


@dataclass(frozen=True)
class Estimate:
    """How a condition calls its model, for `--crucible-estimate`.

    `prompt_tokens` are the tokens each call sends besides the item's input (system message,
    worked examples; default: counted from the prompt text in the condition's code);
    `max_tokens` the output tokens per call (an upper bound); `latency_s` an assumed seconds
    per call; `prices` adds to the default price table (USD per million input and output
    tokens, e.g. `{"my-model": (0.5, 1.5)}`). A previous run's measurements win over all
    of these but the model and its price.
    """

    model: str
    max_tokens: int | None = None
    prompt_tokens: int | None = None
    calls_per_trial: int = 1
    latency_s: float | None = None
    prices: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Figure:
    """A number of the estimate and where it comes from (m, d or g; see the module)."""

    value: float | None
    basis: str


@dataclass(frozen=True)
class ConditionEstimate:
    condition: str
    trials: int
    input_tokens: Figure
    output_tokens: Figure
    cost_usd: Figure
    seconds: Figure
    model: str | None


def tokens_of(value: Any) -> int:
    """About how many tokens a value's text holds (4 characters per token)."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def estimate_plan(
    plan: Plan,
    *,
    concurrency: int,
    processes: int = 1,
    prices: PriceTable | None = None,
    history: History | None = None,
) -> list[ConditionEstimate]:
    """One row per condition of the plan; `history`: the experiment's previous run."""
    from pytest_crucible.llm.pricing import PriceTable

    table = prices or PriceTable()
    parallel = max(1, concurrency * processes)
    rows = []
    for name, condition in plan.experiment.conditions.items():
        spec = _spec(plan, name)
        trials = [t for t in plan.trials if t.condition == name]
        row = _guessed_row(name, trials, spec, condition.added_text(), parallel, table)
        measured = history.conditions.get(name) if history else None
        if measured is not None:
            row = _with_measurements(row, measured, spec, table)
        rows.append(row)
    return rows


def _spec(plan: Plan, condition: str) -> Estimate | None:
    declared = plan.experiment.estimate
    spec = declared.get(condition) if isinstance(declared, Mapping) else declared
    if spec is not None and not isinstance(spec, Estimate):
        raise ExperimentError(
            f"experiment {plan.name}: estimate= takes crucible.Estimate(model=...) "
            f"or a dict {{condition: Estimate}}, got {type(spec).__name__}"
        )
    return spec


def _guessed_row(
    name: str,
    trials: Sequence[TrialSpec],
    spec: Estimate | None,
    added_text: list[str],
    parallel: int,
    table: PriceTable,
) -> ConditionEstimate:
    per_trial = spec.calls_per_trial if spec else 1
    calls = len(trials) * per_trial
    declared_prompt = spec is not None and spec.prompt_tokens is not None
    prompt = spec.prompt_tokens if spec and declared_prompt else _text_tokens(added_text)
    input_tokens = sum(tokens_of(t.item.input) + (prompt or 0) for t in trials) * per_trial
    declared_output = spec is not None and spec.max_tokens is not None
    max_tokens = spec.max_tokens if spec and spec.max_tokens is not None else _default_max()
    output_tokens = calls * max_tokens
    latency = spec.latency_s if spec and spec.latency_s is not None else ASSUMED_LATENCY_S
    declared_latency = spec is not None and spec.latency_s is not None
    return ConditionEstimate(
        name,
        len(trials),
        Figure(input_tokens, GUESSED),
        Figure(output_tokens, DECLARED if declared_output else GUESSED),
        Figure(_price(spec, table, input_tokens, output_tokens), GUESSED),
        Figure(calls * latency / parallel, DECLARED if declared_latency else GUESSED),
        spec.model if spec else None,
    )


def _with_measurements(
    guessed: ConditionEstimate,
    measured: MeasuredCondition,
    spec: Estimate | None,
    table: PriceTable,
) -> ConditionEstimate:
    """The guessed row with what the previous run measured put in its place."""
    count = guessed.trials
    inputs = _measured_or(guessed.input_tokens, measured.input_tokens_per_trial, count)
    outputs = _measured_or(guessed.output_tokens, measured.output_tokens_per_trial, count)
    if measured.cost_per_trial is not None:
        cost = Figure(measured.cost_per_trial * count, MEASURED)
    else:
        priced = _price(spec, table, int(inputs.value or 0), int(outputs.value or 0))
        tokens_measured = MEASURED if {inputs.basis, outputs.basis} == {MEASURED} else GUESSED
        cost = Figure(priced, tokens_measured)
    seconds = count * measured.seconds_per_trial
    return ConditionEstimate(
        guessed.condition,
        count,
        inputs,
        outputs,
        cost,
        Figure(seconds, MEASURED),
        guessed.model,
    )


def _measured_or(guessed: Figure, per_trial: float | None, trials: int) -> Figure:
    return guessed if per_trial is None else Figure(round(per_trial * trials), MEASURED)


def _text_tokens(texts: list[str]) -> int:
    return sum(tokens_of(text) for text in texts)


def _default_max() -> int:
    from pytest_crucible.llm.types import ModelRequest

    return int(ModelRequest.model_fields["max_tokens"].default)


def _price(spec: Estimate | None, table: PriceTable, inputs: int, outputs: int) -> float | None:
    if spec is None:
        return None
    from pytest_crucible.llm.types import Usage

    priced = table.merge(spec.prices) if spec.prices else table
    return priced.cost(spec.model, Usage(input_tokens=inputs, output_tokens=outputs))


def format_estimate(
    name: str,
    rows: list[ConditionEstimate],
    *,
    concurrency: int,
    processes: int,
    history: History | None = None,
) -> str:
    source = f", from run {history.run_id} ({history.trials} trials)" if history else ""
    lines = [
        f"{name}: estimate at concurrency {concurrency} x {processes} process(es){source}",
        f"  {'condition':<24} {'trials':>7} {'input tok':>12} {'output tok':>12} "
        f"{'cost USD':>12} {'time':>11}",
    ]
    for row in rows:
        lines.append(
            f"  {row.condition:<24} {row.trials:>7} {_tokens(row.input_tokens):>12} "
            f"{_tokens(row.output_tokens):>12} {_cost(row.cost_usd):>12} "
            f"{_time(row.seconds):>11}"
        )
    overhead = _overhead(history)
    lines.append(f"  {'pytest start-up and session end':<59} {_time(overhead):>11}")
    lines.append(_total_line(rows, overhead))
    lines.extend(_legend(rows, overhead, history))
    return "\n".join(lines)


def _overhead(history: History | None) -> Figure:
    if history is None or history.overhead_s is None:
        return Figure(None, GUESSED)
    return Figure(history.overhead_s, MEASURED)


def _total_line(rows: list[ConditionEstimate], overhead: Figure) -> str:
    known = [r.cost_usd.value for r in rows if r.cost_usd.value is not None]
    unpriced = sorted({r.model or "?" for r in rows if r.cost_usd.value is None})
    if not unpriced:
        total_cost = f"${sum(known):.4f}"
    elif unpriced == ["?"]:
        total_cost = "cost unknown (declare estimate=crucible.Estimate(model=...))"
    else:
        total_cost = (
            f"${sum(known):.4f} + unknown: no price for {unpriced} "
            "(give Estimate(prices={model: (usd_in, usd_out) per million tokens}))"
        )
    seconds = sum(r.seconds.value or 0.0 for r in rows) + (overhead.value or 0.0)
    more = "" if overhead.value is not None else " plus start-up and the session end"
    trials = sum(r.trials for r in rows)
    return f"  total: {trials} trials, {total_cost}, about {_duration(seconds)}{more}"


def _legend(rows: list[ConditionEstimate], overhead: Figure, history: History | None) -> list[str]:
    figures = [f for r in rows for f in (r.input_tokens, r.output_tokens, r.seconds)]
    bases = {f.basis for f in [*figures, overhead] if f.value is not None}
    lines = []
    if MEASURED in bases and history is not None:
        lines.append(
            f"  m: measured in run {history.run_id}: tokens and cost per trial; time per trial "
            "at that run's concurrency and process count (not scaled to these)"
        )
    if DECLARED in bases:
        lines.append("  d: declared in the experiment's Estimate(...)")
    if GUESSED in bases:
        lines.append(
            "  g: guessed: input = the items' text and the prompt text in the conditions' "
            f"code at {CHARS_PER_TOKEN} characters per token; output = max_tokens per call "
            f"(an upper bound); {ASSUMED_LATENCY_S:g} s per call. A run of the experiment "
            "makes these measured"
        )
    return lines


def _tokens(figure: Figure) -> str:
    return "?" if figure.value is None else f"{round(figure.value):,} {figure.basis}"


def _cost(figure: Figure) -> str:
    return "no price" if figure.value is None else f"{figure.value:.4f} {figure.basis}"


def _time(figure: Figure) -> str:
    return "?" if figure.value is None else f"{_duration(figure.value)} {figure.basis}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
