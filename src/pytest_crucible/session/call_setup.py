"""Session glue for model calls: cache mode, replay, budgets and `--crucible-estimate`.

Every process holds one `CallSetup`. Workers learn the store's path and what resumed runs
had already spent from `workerinput` (they read the call cache, never write it). Shared rate
limits (`RateLimit(shared=True)`) take their permits from the store (`StorePermits`).
"""

from __future__ import annotations

from contextlib import closing

import pytest

from pytest_crucible.declare.plan import Plan, TrialSpec
from pytest_crucible.errors import CrucibleError, ExperimentError, StoreError
from pytest_crucible.llm.shared_rate import use_shared_permits
from pytest_crucible.run.calls import (
    Budget,
    CachePolicy,
    CallCache,
    Spending,
    TrialCalls,
    parse_cache_mode,
)
from pytest_crucible.run.estimate import estimate_plan, format_estimate
from pytest_crucible.run.history import History, load_history
from pytest_crucible.run.shared_permits import StorePermits
from pytest_crucible.store import ResultStore, open_store
from pytest_crucible.store.locations import may_exist

__all__ = ["CallSetup", "spent_by_condition"]


class CallSetup:
    def __init__(
        self,
        config: pytest.Config,
        *,
        store_location: str,
        processes: int,
        spent_before: dict[str, dict[str, float]],
    ) -> None:
        option = config.getoption
        try:
            mode = parse_cache_mode(option("crucible_cache"), replay=option("crucible_replay"))
        except CrucibleError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.store_location = store_location  # unmasked: the call cache opens the store
        self.processes = max(1, processes)
        self.cache = CallCache(store_location) if mode in ("read", "readwrite", "replay") else None
        self.spending = Spending(budgets={}, share=1 / self.processes, spent_before=spent_before)
        self.policy = CachePolicy(mode, self.cache, self.spending)
        self.estimating = bool(option("crucible_estimate"))
        self.estimates: dict[str, str] = {}
        # RateLimit(shared=True) limits take their permits from the store (opened on first use)
        self.shared_permits = StorePermits(store_location)
        use_shared_permits(self.shared_permits)

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
        history = self._history(plan.name)
        rows = estimate_plan(
            plan, concurrency=concurrency, processes=self.processes, history=history
        )
        self.estimates[plan.name] = format_estimate(
            plan.name, rows, concurrency=concurrency, processes=self.processes, history=history
        )

    def _history(self, experiment: str) -> History | None:
        """What the experiment's previous run measured (None: no run, or no store)."""
        if not may_exist(self.store_location):
            return None
        try:
            with closing(open_store(self.store_location, readonly=True)) as store:
                return load_history(store, experiment)
        except StoreError:
            return None

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
        use_shared_permits(None)
        self.shared_permits.close()


def spent_by_condition(store: ResultStore, run_ids: dict[str, str]) -> dict[str, dict[str, float]]:
    """What the passed (reused) trials of resumed runs cost, per experiment and condition."""
    return {experiment: store.spent_by_condition(run_id) for experiment, run_id in run_ids.items()}


def cost_lines(store: ResultStore, run_id: str) -> list[str]:
    """Tokens and cost per condition of a run (nothing when no trial called a model), the
    answers that came from the recording, and a warning per condition whose answers were cut
    at max_tokens."""
    rows = [row for row in store.usage_by_condition(run_id) if row.counted_trials]
    if not rows:
        return []
    lines = ["model usage:"]
    warnings = []
    total = 0.0
    for row in rows:
        shown = f"${row.cost_usd:.4f}" if row.priced_trials else "no price"
        total += row.cost_usd or 0.0
        line = f"  {row.condition}: {row.input_tokens or 0:,} input + "
        line += f"{row.output_tokens or 0:,} output tokens, {shown}"
        if row.cache_hits:
            line += (
                f"; {row.cache_hits:,} of {row.model_calls:,} answers from the recording "
                "(latency_s counts their recorded duration)"
            )
        lines.append(line)
        if row.truncated:
            warnings.append(
                f"  warning: condition {row.condition}: {row.truncated:,} of "
                f"{row.model_calls:,} answers were cut at max_tokens={row.truncated_at}; "
                "raise max_tokens"
            )
    lines.append(f"  run total: ${total:.4f}")
    return lines + warnings
