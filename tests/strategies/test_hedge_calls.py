"""hedge() around other kinds of calls: a sync backend call in a thread (the rate-limit rule
holds there too), and a hedge inside a hedged call (the outer one sees the inner's calls)."""

from __future__ import annotations

import asyncio
from typing import Any

from pytest_crucible.llm import OpenAICompatibleBackend, RateLimit, RetryPolicy
from pytest_crucible.strategies import Fixed, hedge, hedge_outcome
from pytest_crucible.testing import Fault, MockModelServer

from .test_hedge import STALL, run


def test_a_sync_call_in_a_thread_keeps_the_rate_limit_rule() -> None:
    # the server holds the primary 2 s: it cannot answer before the 50 ms hedge delay, and
    # it keeps the only permit while the backup (started once it holds it) asks for one
    with MockModelServer(latency=2.0) as server:
        backend = OpenAICompatibleBackend(
            server.base_url,
            retry=RetryPolicy(max_attempts=1),
            timeout=300.0,
            rate_limit=RateLimit(max_in_flight=1, adaptive=False),
        )
        limiter = backend.rate_limiter()
        assert limiter is not None
        policy = Fixed(0.05)
        started = 0

        async def call() -> Any:
            nonlocal started
            started += 1
            if started > 1:  # the backup: only once the primary's thread holds the permit
                for _ in range(6000):
                    if limiter.stats()["in_flight"] == 1:
                        break
                    await asyncio.sleep(0.01)
            return await asyncio.to_thread(backend.chat, "mock-model", "q")

        async def main() -> Any:
            return await hedge_outcome(call, policy=policy)

        with backend:
            outcome = run(main())
        assert outcome.record.skipped == "rate_limit"  # the one permit is the primary's
        assert (server.stats()["requests"], server.stats()["max_in_flight"]) == (1, 1)
        assert policy.backups == 0


def test_a_hedge_inside_a_hedged_call() -> None:
    with MockModelServer() as server:
        server.set_faults([STALL])  # the inner primary stalls: the inner backup wins
        backend = OpenAICompatibleBackend(
            server.base_url, retry=RetryPolicy(max_attempts=1), timeout=300.0
        )
        inner, outer = Fixed(0.2), Fixed(120.0)

        async def condition() -> str:
            response = await hedge(lambda: backend.achat("mock-model", "q"), policy=inner)
            return response.content

        async def main() -> Any:
            async with backend:
                return await hedge_outcome(condition, policy=outer)

        outcome = run(main())
        assert "q" in outcome.value
        assert (inner.backups, outer.backups) == (1, 0)
        assert outcome.record.winner == "primary"
        assert server.stats()["requests"] == 2


def test_a_stored_answer_inside_the_first_request_stops_the_backup() -> None:
    """A call whose first model call was answered from the recording never hedges, even
    when a later call in it is slow (here: a stored answer, then a stalled request)."""
    from pytest_crucible.llm import ModelResponse
    from pytest_crucible.llm.context import call_context

    class Recording:  # the CallContext protocol: answers "cached" prompts from a recording
        seed = None

        def before_call(self, backend: str, request: Any) -> ModelResponse | None:
            if request.messages[-1].content == "cached":
                return ModelResponse(model="mock-model", content="stored", cached=True)
            return None

        def after_call(self, backend: str, request: Any, response: Any) -> None:
            pass

    with MockModelServer(faults=[Fault(kind="timeout", delay=3.0)]) as server:
        backend = OpenAICompatibleBackend(
            server.base_url, retry=RetryPolicy(max_attempts=1), timeout=300.0
        )
        policy = Fixed(0.1)

        async def condition() -> str:
            first = await backend.achat("mock-model", "cached")
            second = await backend.achat("mock-model", "slow")
            return first.content + second.content

        async def main() -> Any:
            async with backend:
                with call_context(Recording()):
                    return await hedge_outcome(condition, policy=policy)

        outcome = run(main())
        assert outcome.record.skipped == "stored"
        assert policy.backups == 0
        assert server.stats()["requests"] == 1
