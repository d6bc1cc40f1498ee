"""Does hedging cut the tail latency of model calls, and at what cost in extra requests?

Three conditions over the same questions, each a call to a model whose answers sometimes
stall (the mock server of conftest.py): no hedging, a backup after the 95th percentile of
the latencies seen so far (at most 10% extra requests), and the adaptive policy that learns
the delay spending 5% extra requests. Per trial: the call's latency (P50, P95 and P99 per
condition, with bootstrap intervals) and whether it sent a backup request (the mean is the
share of extra requests). Run it with

    pytest --crucible example_experiments/strategies

(it is left out of `pytest --crucible example_experiments`). Fewer or more questions:
CRUCIBLE_HEDGING_ITEMS=50 (default 300).
"""

from __future__ import annotations

import os

import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, RetryPolicy
from pytest_crucible.strategies import Adaptive, HedgePolicy, Percentile, hedge_outcome
from pytest_crucible.testing import MockModelServer

ITEMS = int(os.environ.get("CRUCIBLE_HEDGING_ITEMS", "300"))

# One policy per condition, shared by its trials: it learns their latencies and holds the
# budget of extra requests.
POLICIES: dict[str, HedgePolicy] = {"p95": Percentile(95), "adaptive": Adaptive(0.05)}
BUDGETS = {"p95": 0.10, "adaptive": None}
_backends: dict[str, OpenAICompatibleBackend] = {}


def _backend(model: MockModelServer) -> OpenAICompatibleBackend:
    if model.base_url not in _backends:
        _backends[model.base_url] = OpenAICompatibleBackend(
            model.base_url, retry=RetryPolicy(max_attempts=1), timeout=60.0
        )
    return _backends[model.base_url]


async def _ask(model: MockModelServer, question: str, policy: str | None) -> tuple[str, bool]:
    backend = _backend(model)

    def call():  # a new request each time: the backup is the same request again
        return backend.achat("mock-model", question, max_tokens=32)

    if policy is None:
        return (await call()).content, False
    outcome = await hedge_outcome(call, policy=POLICIES[policy], budget=BUDGETS[policy])
    return outcome.value.content, outcome.record.fired


async def no_hedging(model: MockModelServer, question: str) -> tuple[str, bool]:
    return await _ask(model, question, None)


async def p95(model: MockModelServer, question: str) -> tuple[str, bool]:
    return await _ask(model, question, "p95")


async def adaptive(model: MockModelServer, question: str) -> tuple[str, bool]:
    return await _ask(model, question, "adaptive")


hedging = crucible.Experiment(
    name="hedging",
    description="Backup requests against stalls: tail latency and extra requests",
    dataset=[{"id": f"q{n}", "input": f"question number {n}"} for n in range(ITEMS)],
    conditions={"no_hedging": no_hedging, "p95": p95, "adaptive": adaptive},
    baseline="no_hedging",
    metrics={
        "latency_s": crucible.Metric(
            lower_is_better=True, unit="s", aggregate=("p50", "p95", "p99")
        ),
        "extra_request": crucible.Metric(
            kind="binary", lower_is_better=True, description="a backup request was sent"
        ),
    },
    seed=7,
    concurrency=50,
)


@hedging.trial
async def test_hedging(condition, item, trial, stalling_model):
    answer, fired = await condition(stalling_model, item.input)
    assert item.input in answer
    trial.record(latency_s=trial.latency_s, extra_request=fired)
