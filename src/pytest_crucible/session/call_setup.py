"""Session glue for model calls: cache mode, replay, budgets and `--crucible-estimate`.

Every process holds one `CallSetup`. Workers learn the store's path and what resumed runs
had already spent from `workerinput` (they read the call cache, never write it).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pytest_crucible.declare.experiment import Plan, TrialSpec
from pytest_crucible.errors import CrucibleError, ExperimentError
from pytest_crucible.run.calls import (
    Budget,
    CachePolicy,
    CallCache,
    Spending,
    TrialCalls,
    parse_cache_mode,
)
from pytest_crucible.run.estimate import estimate_plan, format_estimate

__all__ = ["CallSetup", "spent_by_condition"]


class CallSetup:
    def __init__(
        self,
        config: pytest.Config,
        *,
        store_path: Path,
        processes: int,
        spent_before: dict[str, dict[str, float]],
    ) -> None:
        option = config.getoption
        try:
            mode = parse_cache_mode(option("crucible_cache"), replay=option("crucible_replay"))
        except CrucibleError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.store_path = store_path
        self.processes = max(1, processes)
        self.cache = CallCache(store_path) if mode in ("read", "readwrite", "replay") else None
        self.spending = Spending(budgets={}, share=1 / self.processes, spent_before=spent_before)
        self.policy = CachePolicy(mode, self.cache, self.spending)
        self.estimating = bool(option("crucible_estimate"))
        self.estimates: dict[str, str] = {}

    def add_plan(self, plan: Plan) -> None:
        budget = plan.experiment.budget
        if budget is None:
            return
        if not isinstance(budget, Budget):
            raise ExperimentError(
                f"experiment {plan.name}: budget= takes crucible.Budget(max_total_usd=..., "
                f"max_per_condition_usd=...), got {type(budget).__name__}"
            )
        self.spending.budgets[plan.name] = budget  # type: ignore[index]

    def context_for(self, spec: TrialSpec) -> TrialCalls:
        return TrialCalls(
            self.policy,
            experiment=spec.experiment,
            condition=spec.condition,
            repeat=spec.repeat,
            seed=spec.seed,
        )

    def skip_reason(self, spec: TrialSpec) -> str | None:
        """Why this trial must not start: an estimate runs nothing; a spent budget."""
        if self.estimating:
            return "estimate: --crucible-estimate runs nothing"
        return self.spending.exhausted(spec.experiment, spec.condition)

    def estimate(self, plan: Plan, concurrency: int) -> None:
        rows = estimate_plan(
            plan,
            concurrency=concurrency,
            processes=self.processes,
            measured_latency=self._measured_latency(plan.name),
        )
        self.estimates[plan.name] = format_estimate(
            plan.name, rows, concurrency=concurrency, processes=self.processes
        )

    def _measured_latency(self, experiment: str) -> dict[str, float]:
        """Mean seconds per condition call in the experiment's stored trials."""
        if not self.store_path.exists():
            return {}
        try:
            with sqlite3.connect(f"file:{self.store_path.resolve()}?mode=ro", uri=True) as conn:
                rows = conn.execute(
                    "SELECT t.condition, sum(t.latency_s) / sum(t.calls) FROM trials t "
                    "JOIN runs r USING (run_id) WHERE r.experiment = ? AND t.calls > 0 "
                    "AND t.status = 'passed' GROUP BY t.condition",
                    (experiment,),
                ).fetchall()
        except sqlite3.Error:
            return {}
        return {condition: float(latency) for condition, latency in rows if latency}

    def unpriced_warning(self) -> str | None:
        if self.spending.budgets and self.spending.unpriced:
            return (
                f"a budget is set but model(s) {sorted(self.spending.unpriced)} have no price, "
                "so their calls count as $0; give the backend prices=PriceTable({...})"
            )
        return None

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


def spent_by_condition(store: Any, run_ids: dict[str, str]) -> dict[str, dict[str, float]]:
    """What the passed (reused) trials of resumed runs cost, per experiment and condition."""
    spent: dict[str, dict[str, float]] = {}
    for experiment, run_id in run_ids.items():
        rows = store.query(
            "SELECT condition, sum(cost_usd) FROM trials WHERE run_id = ? AND status = 'passed'"
            " AND cost_usd IS NOT NULL GROUP BY condition",
            (run_id,),
        )
        spent[experiment] = {row[0]: float(row[1]) for row in rows}
    return spent


def cost_lines(store: Any, run_id: str) -> list[str]:
    """Tokens and cost per condition of a run (nothing when no trial called a model), the
    answers that came from the recording, and a warning per condition whose answers were cut
    at max_tokens."""
    rows = store.query(
        "SELECT condition, sum(input_tokens), sum(output_tokens), sum(cost_usd), "
        "count(cost_usd), count(input_tokens), sum(json_extract(usage, '$.model_calls')), "
        "sum(json_extract(usage, '$.cache_hits')), sum(json_extract(usage, '$.truncated')), "
        "max(json_extract(usage, '$.truncated_at')) FROM trials WHERE run_id = ? "
        "GROUP BY condition ORDER BY condition",
        (run_id,),
    )
    rows = [row for row in rows if row[5]]
    if not rows:
        return []
    lines = ["model usage:"]
    warnings = []
    total = 0.0
    for condition, tokens_in, tokens_out, cost, priced, _, answers, stored, cut, limit in rows:
        shown = f"${cost:.4f}" if priced else "no price"
        total += cost or 0.0
        line = f"  {condition}: {tokens_in or 0:,} input + {tokens_out or 0:,} output tokens"
        line += f", {shown}"
        if stored:
            line += (
                f"; {stored:,} of {answers:,} answers from the recording (latency_s counts "
                "their recorded duration)"
            )
        lines.append(line)
        if cut:
            warnings.append(
                f"  warning: condition {condition}: {cut:,} of {answers:,} answers were cut at "
                f"max_tokens={limit}; raise max_tokens"
            )
    lines.append(f"  run total: ${total:.4f}")
    return lines + warnings
