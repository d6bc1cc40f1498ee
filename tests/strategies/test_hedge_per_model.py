"""Percentile hedging per model, over real HTTP: one policy shared by calls to a fast and a
slow model (key=model) learns one delay per model, so the slow model's calls are not hedged
at the fast model's delay. The slow model is held 3 s by the mock server, a lower bound on
its latency whatever the machine's speed; no upper bound on time is asserted."""

from __future__ import annotations

import asyncio
from typing import Any

from pytest_crucible.llm import OpenAICompatibleBackend, RetryPolicy
from pytest_crucible.strategies import HedgeRecord, Percentile, hedge_outcome
from pytest_crucible.testing import Latency, MockModelServer

SLOW_S = 3.0


def test_one_percentile_policy_keeps_a_delay_per_model() -> None:
    policy = Percentile(95, warmup=3)
    latency = {"slow": Latency.fixed(SLOW_S), "*": 0.0}
    with MockModelServer(latency=latency) as server:
        backend = OpenAICompatibleBackend(
            server.base_url, retry=RetryPolicy(max_attempts=1), timeout=300.0
        )

        async def ask(model: str, n: int) -> HedgeRecord:
            outcome = await hedge_outcome(
                lambda: backend.achat(model, f"question {n}"), policy=policy, key=model
            )
            return outcome.record

        async def main() -> dict[str, list[Any]]:
            async with backend:
                fast = [await ask("fast", n) for n in range(3)]
                slow = list(await asyncio.gather(*(ask("slow", n) for n in range(3))))
                # warmed up: each model's next call is hedged at its own delay
                after = list(await asyncio.gather(ask("fast", 9), ask("slow", 9)))
            return {"fast": fast, "slow": slow, "after": after}

        records = asyncio.run(main())
        requests = server.stats()["requests"]
    # the warm-up calls had no delay, so no backup
    assert all(r.delay_s is None and not r.fired for r in records["fast"] + records["slow"])
    fast_delay, slow_delay = policy.delay("fast"), policy.delay("slow")
    assert fast_delay is not None and slow_delay is not None
    assert slow_delay >= SLOW_S  # the slow model's own latencies, all held >= 3 s
    assert fast_delay < slow_delay
    after_fast, after_slow = records["after"]
    assert after_slow.delay_s is not None and after_slow.delay_s >= SLOW_S
    assert after_fast.delay_s is not None and after_fast.delay_s < SLOW_S
    assert policy.delay("never-called") is None  # a third model warms up on its own
    # eight calls, plus at most one backup each for the last two (a backup that lost may be
    # cancelled before its request reached the server)
    backups = sum(r.fired for r in records["after"])
    assert 8 <= requests <= 8 + backups
