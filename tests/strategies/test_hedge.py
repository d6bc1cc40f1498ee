"""hedge() over real HTTP to the mock server: a stalled first request is beaten by its backup
and cancelled, each policy decides when, the budget caps backups, the rate limit is kept.

No wall-clock assertion: a first request that must lose is held 120 s by a fault (never
reached: the test would time out first), so which request wins is decided by counts."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm import ModelResponse, OpenAICompatibleBackend, RateLimit, RetryPolicy
from pytest_crucible.strategies import (
    Adaptive,
    Fixed,
    HedgePolicy,
    Percentile,
    WorkloadAware,
    hedge,
    hedge_outcome,
    hedged,
)
from pytest_crucible.testing import Fault, MockModelServer

STALL = Fault(kind="timeout", delay=120.0)  # held far beyond any test's patience
NO_RETRY = RetryPolicy(max_attempts=1)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Block until `condition()` holds (an event seen through the mock's stats), or fail."""
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        done.wait(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def run(coroutine: Awaitable[Any]) -> Any:
    """Run on a fresh loop and check that no task of ours is left running at the end."""

    async def main() -> Any:
        value = await coroutine
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert left == [], f"tasks left running: {left}"
        return value

    return asyncio.run(main())


@pytest.fixture
def server() -> Any:
    with MockModelServer() as running:
        yield running


def backend_for(server: MockModelServer, **options: Any) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(server.base_url, retry=NO_RETRY, timeout=300.0, **options)


def test_the_backup_wins_over_a_stalled_request_which_is_cancelled(
    server: MockModelServer,
) -> None:
    server.set_faults([STALL])  # the first request stalls; the backup is answered at once
    backend = backend_for(server)

    async def main() -> Any:
        async with backend:
            return await hedge_outcome(
                lambda: backend.achat("mock-model", "capital of France?"), policy=Fixed(0.2)
            )

    outcome = run(main())
    assert isinstance(outcome.value, ModelResponse)
    assert "capital of France?" in outcome.value.content
    assert outcome.value.duration_s >= 0.2  # the whole hedged call: the delay counts
    record = outcome.record
    assert (record.fired, record.winner, record.skipped) == (True, "backup", None)
    log = server.request_log()
    assert len(log) == 2  # the primary and its backup, the same request
    assert log[0]["json"] == log[1]["json"]
    wait_for(lambda: server.stats()["cancelled"] == 1, "the mock to see the primary cancelled")
    # the cut-off primary's prompt is the extra cost (characters / 4; no price table)
    assert record.extra_input_tokens == len("capital of France?") // 4
    assert (record.extra_output_tokens, record.extra_cost_usd) == (0, None)


def test_no_backup_when_the_first_request_answers_in_time(server: MockModelServer) -> None:
    backend = backend_for(server)
    policy = Fixed(120.0)

    async def main() -> Any:
        async with backend:
            return await hedge_outcome(lambda: backend.achat("mock-model", "hi"), policy=policy)

    outcome = run(main())
    assert (outcome.record.fired, outcome.record.winner) == (False, "primary")
    assert server.stats()["requests"] == 1
    assert (policy.calls, policy.backups) == (1, 0)


def test_percentile_waits_out_its_warm_up_then_hedges_at_the_observed_percentile(
    server: MockModelServer,
) -> None:
    backend = backend_for(server)
    policy = Percentile(90, warmup=5)

    async def main() -> list[Any]:
        async with backend:
            ask = lambda: backend.achat("mock-model", "hi")  # noqa: E731
            records = [(await hedge_outcome(ask, policy=policy)).record for _ in range(5)]
            assert policy.delay(None) is not None  # warmed up: the 90th percentile of 5
            server.set_faults([STALL])
            records.append((await hedge_outcome(ask, policy=policy)).record)
            return records

    records = run(main())
    assert [r.skipped for r in records[:5]] == ["no_delay"] * 5  # no backup while warming up
    assert [r.fired for r in records[:5]] == [False] * 5
    assert (records[5].fired, records[5].winner) == (True, "backup")
    assert server.stats()["requests"] == 7


def test_percentile_keeps_one_window_per_key() -> None:
    policy = Percentile(50, warmup=3)
    for latency in (0.1, 0.2, 0.3):
        policy.observe("model-a", latency)
    assert policy.delay("model-a") == 0.2
    assert policy.delay("model-b") is None  # still warming up
    by_family = Percentile(50, warmup=3, key=lambda model: model.split("-")[0])
    for latency in (0.1, 0.2, 0.3):
        by_family.observe("gpt-small", latency)
    assert by_family.delay("gpt-large") == 0.2  # one window for the family


def test_percentile_window_forgets_old_latencies() -> None:
    policy = Percentile(50, warmup=2, window=4)
    for latency in (9.0, 9.0, 9.0, 9.0, 1.0, 1.0, 1.0, 1.0):
        policy.observe(None, latency)
    assert policy.delay(None) == 1.0


def test_adaptive_learns_the_delay_that_spends_its_target() -> None:
    """Simulated calls (no HTTP): a lognormal body with 3% stalls, backups fire when the
    first request is slower than the delay; the share that fired meets the 5% target."""
    draw = random.Random(7)
    policy = Adaptive(target_extra=0.05)
    fired = 0
    calls = 5000
    for _ in range(calls):
        latency = draw.lognormvariate(-2.3, 0.3) + (
            draw.uniform(2, 5) if draw.random() < 0.03 else 0
        )
        policy.start_call()
        delay = policy.delay(None)
        fires = delay is not None and latency > delay
        fired += fires
        policy.observe(None, latency if not fires else max(delay or 0.0, 0.0) + 0.1)
        policy.settled(None, fires, delay)
    assert abs(fired / calls - 0.05) < 0.01


def test_adaptive_hedges_a_stalled_request_over_http(server: MockModelServer) -> None:
    backend = backend_for(server)
    policy = Adaptive(target_extra=0.2, warmup=3, warmup_delay_s=0.0)

    async def main() -> Any:
        async with backend:
            # the warm-up delay 0: the first call sends its backup at once; it is stalled
            server.set_faults([STALL])
            return await hedge_outcome(lambda: backend.achat("mock-model", "x"), policy=policy)

    outcome = run(main())
    assert (outcome.record.fired, outcome.record.winner, outcome.record.delay_s) == (
        True,
        "backup",
        0.0,
    )


def test_workload_aware_keeps_separate_delays_per_bucket(server: MockModelServer) -> None:
    backend = backend_for(server)
    policy = WorkloadAware(lambda prompt: len(prompt) // 100, lambda: Percentile(95, warmup=3))
    short, long = "short question", "long question " * 20

    async def main() -> list[Any]:
        async with backend:
            records = []
            for _ in range(3):  # warms the short bucket only
                records.append(
                    await hedge_outcome(
                        lambda: backend.achat("mock-model", short), policy=policy, key=short
                    )
                )
            # the long prompt stalls: its bucket has no delay yet, so it sends no backup
            server.set_faults([Fault(kind="timeout", delay=120.0, match="long question")])
            task = asyncio.ensure_future(
                hedge_outcome(lambda: backend.achat("mock-model", long), policy=policy, key=long)
            )
            for _ in range(1200):  # until the long call is held at the server (60 s at most)
                if server.stats()["faults"] == {"timeout": 1}:
                    break
                await asyncio.sleep(0.05)
            assert server.stats()["faults"] == {"timeout": 1}, "the long call never arrived"
            short_delay.append(policy.delay(short))
            records.append(
                await hedge_outcome(
                    lambda: backend.achat("mock-model", short), policy=policy, key=short
                )
            )
            long_held.append(not task.done())
            long_requests.append(
                sum("long question" in str(entry.get("json")) for entry in server.request_log())
            )
            task.cancel()
            await asyncio.wait({task})
            return records

    short_delay: list[float | None] = []
    long_held: list[bool] = []
    long_requests: list[int] = []
    records = run(main())
    assert policy.delay(short) is not None
    assert policy.delay(long) is None  # its own bucket, never warmed up
    assert sorted(policy.policies) == [0, 2]
    # The short call used its own bucket's delay and was answered while the long call was
    # still held; whether its backup fired depends on the machine's speed, so it is not asserted.
    assert short_delay[0] is not None
    assert records[-1].record.delay_s == short_delay[0]
    assert records[-1].value.content.startswith("Mock answer to: short question")
    assert long_held == [True]
    assert long_requests == [1]  # the long bucket has no delay: no backup was sent


def test_the_budget_caps_the_share_of_calls_with_a_backup(server: MockModelServer) -> None:
    server.set_latency(0.3)  # a backup is wanted at once (delay 0) on every call
    backend = backend_for(server)
    policy = Fixed(0.0)

    async def main() -> list[Any]:
        async with backend:
            ask = lambda: backend.achat("mock-model", "hi")  # noqa: E731
            return [(await hedge_outcome(ask, policy=policy, budget=0.25)).record for _ in range(8)]

    records = run(main())
    assert [r.fired for r in records] == [False, False, False, True] * 2
    assert [r.skipped for r in records[:3]] == ["budget"] * 3
    assert (policy.calls, policy.backups, policy.extra_share) == (8, 2, 0.25)
    assert server.stats()["requests"] == 10


def test_a_backup_never_waits_for_a_rate_limit_permit(server: MockModelServer) -> None:
    server.set_latency(1.0)
    backend = backend_for(server, rate_limit=RateLimit(max_in_flight=2, adaptive=False))
    policy = Fixed(0.05)

    async def main() -> list[Any]:
        async with backend:
            return await asyncio.gather(
                *(
                    hedge_outcome(lambda n=n: backend.achat("mock-model", f"q{n}"), policy=policy)
                    for n in range(6)
                )
            )

    outcomes = run(main())
    assert [o.record.skipped for o in outcomes] == ["rate_limit"] * 6
    assert policy.backups == 0  # refunded: none was sent
    stats = server.stats()
    assert stats["requests"] == 6
    assert stats["max_in_flight"] <= 2


def test_a_backup_takes_a_free_permit(server: MockModelServer) -> None:
    server.set_faults([STALL])
    backend = backend_for(server, rate_limit=RateLimit(max_in_flight=2, adaptive=False))

    async def main() -> Any:
        async with backend:
            return await hedge_outcome(lambda: backend.achat("mock-model", "q"), policy=Fixed(0.1))

    outcome = run(main())
    assert (outcome.record.fired, outcome.record.winner) == (True, "backup")
    assert server.stats()["max_in_flight"] == 2
    limiter = backend.rate_limiter()
    assert limiter is not None
    assert limiter.stats()["in_flight"] == 0  # the cancelled request gave its permit back


def test_the_decorator_form_hedges_each_call(server: MockModelServer) -> None:
    server.set_faults([STALL])
    backend = backend_for(server)
    policy = Fixed(1.0)  # far above an unstalled local call, even on a busy machine

    @hedged(policy, key=lambda question: len(question))
    async def ask(question: str) -> str:
        return (await backend.achat("mock-model", question)).content

    async def main() -> list[str]:
        async with backend:
            return [await ask("first"), await ask("second")]

    answers = run(main())
    assert "first" in answers[0] and "second" in answers[1]
    assert (policy.calls, policy.backups) == (2, 1)  # only the stalled first one hedged
    assert server.stats()["requests"] == 3


def test_a_failed_backup_leaves_the_primary_to_answer(server: MockModelServer) -> None:
    server.set_latency(0.5)
    server.set_faults([Fault(status=400, times=1, match="second")])
    backend = backend_for(server)
    calls = iter(["first", "second"])  # the backup's request differs: it fails at once

    async def main() -> Any:
        async with backend:
            return await hedge_outcome(
                lambda: backend.achat("mock-model", next(calls)), policy=Fixed(0.01)
            )

    outcome = run(main())
    assert (outcome.record.fired, outcome.record.winner) == (True, "primary")
    assert "first" in outcome.value.content


def test_when_both_fail_the_primarys_error_is_raised(server: MockModelServer) -> None:
    server.set_latency(0.3)
    server.set_faults([Fault(status=400, times=2, message="refused")])
    backend = backend_for(server)

    async def main() -> Any:
        async with backend:
            return await hedge(lambda: backend.achat("mock-model", "q"), policy=Fixed(0.0))

    from pytest_crucible.llm import ModelRequestError

    with pytest.raises(ModelRequestError, match="refused"):
        run(main())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Fixed(-1), "a number >= 0"),
        (lambda: Percentile(100), "between 0 and 100"),
        (lambda: Percentile(95, warmup=0), ">= 1"),
        (lambda: Adaptive(target_extra=0.7), "between 0 and 0.5"),
        (lambda: WorkloadAware("bucket"), "give a function"),  # type: ignore[arg-type]
    ],
)
def test_bad_policies_say_what_to_give(make: Callable[[], HedgePolicy], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


def test_bad_calls_and_budgets_say_what_to_give() -> None:
    async def ok() -> int:
        return 1

    with pytest.raises(ConfigError, match="a number from 0 to 1"):
        run(hedge(ok, policy=Fixed(1), budget=1.5))
    with pytest.raises(ConfigError, match="made once and shared"):
        run(hedge(ok, policy=0.5))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"lambda: backend\.achat"):
        run(hedge(lambda: 42, policy=Fixed(1)))  # type: ignore[arg-type, return-value]
    assert run(hedge(ok, policy=Fixed(1), budget=0.1)) == 1


def test_adaptive_is_not_pulled_down_by_calls_that_observe_no_latency() -> None:
    """A replay answers from the recording: no latency observed, no delay, no backup. Such
    calls leave the learned level alone, so live calls after them start at 1 - target."""
    policy = Adaptive(target_extra=0.05)
    for _ in range(500):
        policy.start_call()
        assert policy.delay(None) is None
        policy.settled(None, False, None)
    assert policy.level() == pytest.approx(0.95)
    policy.observe(None, 0.1)  # a live call's latency: the warm-up counts from now on
    policy.settled(None, False, None)
    assert policy.level() == pytest.approx(0.95 - 0.002 * 0.05)
