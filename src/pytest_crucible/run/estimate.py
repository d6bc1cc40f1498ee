"""`--crucible-estimate`: what an experiment will cost and how long it will take, before it runs.

Per condition: the trial count, tokens (input from the items' text at about 4 characters per
token plus a fixed prompt overhead; output at `max_tokens`, an upper bound), the cost by the
price table, and the wall time given the concurrency and a latency per call that is measured
(the mean per call of the experiment's stored trials of that condition) or assumed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import ExperimentError

if TYPE_CHECKING:
    from pytest_crucible.declare.experiment import Plan
    from pytest_crucible.llm.pricing import PriceTable

__all__ = ["ASSUMED_LATENCY_S", "ConditionEstimate", "Estimate", "estimate_plan", "format_estimate"]

ASSUMED_LATENCY_S = 1.0
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Estimate:
    """How a condition calls its model, for `--crucible-estimate`.

    `prompt_tokens` are the tokens each call sends besides the item's input (system message,
    worked examples); `latency_s` is an assumed seconds per call, used when the store has no
    measured latency for the condition; `prices` adds to the default price table (USD per
    million input and output tokens, e.g. `{"my-model": (0.5, 1.5)}`).
    """

    model: str
    max_tokens: int = 256
    prompt_tokens: int = 0
    calls_per_trial: int = 1
    latency_s: float | None = None
    prices: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ConditionEstimate:
    condition: str
    trials: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    seconds: float
    latency_s: float
    latency_source: str  # "measured" | "assumed" | "default"
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
    measured_latency: Mapping[str, float] | None = None,
) -> list[ConditionEstimate]:
    from pytest_crucible.llm.pricing import PriceTable
    from pytest_crucible.llm.types import Usage

    experiment = plan.experiment
    declared = experiment.estimate
    measured = measured_latency or {}
    table = prices or PriceTable()
    rows = []
    for condition in experiment.conditions:
        spec = declared.get(condition) if isinstance(declared, Mapping) else declared
        if spec is not None and not isinstance(spec, Estimate):
            raise ExperimentError(
                f"experiment {experiment.name}: estimate= takes crucible.Estimate(model=...) "
                f"or a dict {{condition: Estimate}}, got {type(spec).__name__}"
            )
        trials = [t for t in plan.trials if t.condition == condition]
        per_trial = spec.calls_per_trial if spec else 1
        calls = len(trials) * per_trial
        overhead = spec.prompt_tokens if spec else 0
        input_tokens = sum(tokens_of(t.item.input) + overhead for t in trials) * per_trial
        output_tokens = calls * (spec.max_tokens if spec else 0)
        cost = None
        if spec is not None:
            usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
            priced = table.merge(spec.prices) if spec.prices else table
            cost = priced.cost(spec.model, usage)
        if condition in measured:
            latency, source = measured[condition], "measured"
        elif spec is not None and spec.latency_s is not None:
            latency, source = spec.latency_s, "assumed"
        else:
            latency, source = ASSUMED_LATENCY_S, "default"
        seconds = calls * latency / max(1, concurrency * processes)
        rows.append(
            ConditionEstimate(
                condition,
                len(trials),
                input_tokens,
                output_tokens,
                cost,
                seconds,
                latency,
                source,
                spec.model if spec else None,
            )
        )
    return rows


def format_estimate(
    name: str, rows: list[ConditionEstimate], *, concurrency: int, processes: int
) -> str:
    lines = [
        f"{name}: estimate at concurrency {concurrency} x {processes} process(es)",
        f"  {'condition':<16} {'trials':>7} {'input tok':>10} {'output tok':>11} "
        f"{'cost USD':>10} {'time':>9}  latency/call",
    ]
    for row in rows:
        cost = f"{row.cost_usd:.4f}" if row.cost_usd is not None else "no price"
        lines.append(
            f"  {row.condition:<16} {row.trials:>7} {row.input_tokens:>10,} "
            f"{row.output_tokens:>11,} {cost:>10} {_duration(row.seconds):>9}  "
            f"{row.latency_s:.2f} s ({row.latency_source})"
        )
    known = [r.cost_usd for r in rows if r.cost_usd is not None]
    unpriced = sorted({r.model or "?" for r in rows if r.cost_usd is None})
    if not unpriced:
        total_cost = f"${sum(known):.4f}"
    elif unpriced == ["?"]:
        total_cost = "cost unknown (declare estimate=crucible.Estimate(model=...))"
    else:
        total_cost = (
            f"${sum(known):.4f} + unknown: no price for {unpriced} "
            "(give Estimate(prices={model: (usd_in, usd_out) per million tokens}))"
        )
    total_time = sum(r.seconds for r in rows)
    lines.append(
        f"  total: {sum(r.trials for r in rows)} trials, {total_cost}, about "
        f"{_duration(total_time)}; output tokens are the max_tokens upper bound"
    )
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
