"""Rate limits: the buckets and the adaptive limit on an injected clock, then the limiter in a
backend over real HTTP (loopback mock server): request rate, in-flight limit, 429 storms,
sync and async callers on one limit. Timing checks are lower bounds only (a slow machine
makes calls later, never earlier)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm import (
    AnthropicBackend,
    ModelRequestError,
    ModelResponse,
    ModelUnavailableError,
    OpenAICompatibleBackend,
    RateLimit,
    RateLimiter,
    RetryPolicy,
)
from pytest_crucible.llm._rate_limiter import Permit
from pytest_crucible.llm.ratelimit import estimate_tokens
from pytest_crucible.testing import Fault, MockModelServer

from .conftest import FAST


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _limiter(**options: Any) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(RateLimit(**options), clock=clock), clock


def _grant_times(
    limiter: RateLimiter, clock: Clock, calls: int, tokens: int = 0, used: int | None = None
) -> list[float]:
    """When each of `calls` sequential calls is let through, waiting as told (t=0: start)."""
    start, times = clock.now, list[float]()
    while len(times) < calls:
        got = limiter.try_acquire(tokens)
        if isinstance(got, Permit):
            times.append(round(clock.now - start, 9))
            limiter.success(got, used)
        else:
            assert 0 < got < math.inf
            clock.advance(got)
    return times


def _take(limiter: RateLimiter, tokens: int = 0) -> Permit:
    got = limiter.try_acquire(tokens)
    assert isinstance(got, Permit), f"no permit: wait {got}"
    return got


# -- buckets ---------------------------------------------------------------------------------


def test_requests_per_second_is_exact() -> None:
    limiter, clock = _limiter(requests_per_second=10, burst=1)
    times = _grant_times(limiter, clock, 30)
    assert times == pytest.approx([i / 10 for i in range(30)])


def test_a_burst_goes_at_once_then_the_rate_holds_and_idling_saves_no_more() -> None:
    limiter, clock = _limiter(requests_per_second=4)  # burst: one second's worth
    assert _grant_times(limiter, clock, 8) == pytest.approx([0, 0, 0, 0, 0.25, 0.5, 0.75, 1.0])
    clock.advance(60)  # a minute idle refills the bucket to its capacity, not to 240
    assert _grant_times(limiter, clock, 6) == pytest.approx([0, 0, 0, 0, 0.25, 0.5])
    limiter, clock = _limiter(requests_per_second=2, burst=5)
    assert _grant_times(limiter, clock, 7) == pytest.approx([0, 0, 0, 0, 0, 0.5, 1.0])


def test_tokens_per_minute_is_exact() -> None:
    limiter, clock = _limiter(tokens_per_minute=6000)  # 100 tokens/s, a bucket of 6000
    times = _grant_times(limiter, clock, 9, tokens=1000)
    assert times == pytest.approx([0, 0, 0, 0, 0, 0, 10, 20, 30])


def test_real_usage_corrects_the_estimate() -> None:
    limiter, _ = _limiter(tokens_per_minute=600)  # 10 tokens/s
    first, _second = _take(limiter, 300), _take(limiter, 300)
    assert limiter.try_acquire(300) == pytest.approx(30.0)
    limiter.success(first, used_tokens=30)  # 270 of its estimate come back
    assert limiter.try_acquire(300) == pytest.approx(3.0)
    assert limiter.stats()["tokens"] == 30


def test_usage_above_the_estimate_is_a_debt() -> None:
    limiter, _ = _limiter(tokens_per_minute=600)
    limiter.success(_take(limiter, 100), used_tokens=700)
    assert limiter.stats()["tokens_available"] == pytest.approx(-100)
    assert limiter.try_acquire(100) == pytest.approx(20.0)


def test_a_call_larger_than_the_bucket_waits_for_a_full_bucket() -> None:
    limiter, clock = _limiter(tokens_per_minute=600)
    times = _grant_times(limiter, clock, 3, tokens=1000)
    assert times == pytest.approx([0, 100, 200])  # never stuck; the excess is paid after


def test_estimate_tokens_counts_characters_over_4_plus_max_tokens() -> None:
    backend = OpenAICompatibleBackend("http://127.0.0.1:9/v1", api_key_env=None)
    request = backend.request("m", "a" * 41, system="b" * 8, max_tokens=100)
    assert estimate_tokens(request) == math.ceil(49 / 4) + 100


# -- in-flight limit and AIMD ----------------------------------------------------------------


def test_in_flight_limit() -> None:
    limiter, _ = _limiter(max_in_flight=2)
    first, _second = _take(limiter), _take(limiter)
    assert limiter.try_acquire() == math.inf
    limiter.success(first)
    limiter.success(first)  # giving a permit back twice changes nothing
    assert isinstance(limiter.try_acquire(), Permit)
    assert limiter.try_acquire() == math.inf
    assert limiter.stats()["in_flight"] == 2


def test_429s_halve_the_limit_once_a_round_and_successes_raise_it_again() -> None:
    limiter, _ = _limiter(max_in_flight=8)
    round_one = [_take(limiter) for _ in range(8)]
    limiter.failure(round_one[0], status=429)
    limiter.failure(round_one[1], status=429)  # sent under the old limit: no second halving
    assert limiter.in_flight_limit == 4
    for permit in round_one[2:]:
        limiter.success(permit)  # sent before the halving: they do not raise it
    assert limiter.in_flight_limit == 4
    seen = []
    for _ in range(40):
        limiter.success(_take(limiter))
        seen.append(limiter.in_flight_limit)
    # +1 after each run of `limit` successes: 4 -> 5 after 4, -> 6 after 5 more, ...
    assert seen[3] == 5 and seen[8] == 6 and seen[14] == 7 and seen[21] == 8
    assert seen[-1] == 8  # never above max_in_flight
    stats = limiter.stats()
    assert (stats["throttled"], stats["decreases"], stats["increases"]) == (2, 1, 4)
    assert stats["in_flight"] == 0


def test_the_limit_never_goes_below_min_in_flight() -> None:
    limiter, _ = _limiter(max_in_flight=4, min_in_flight=3)
    permits = [_take(limiter) for _ in range(3)]
    limiter.failure(permits[0], status=429)
    assert limiter.in_flight_limit == 3
    limiter.failure(permits[1], status=429)
    limiter.failure(_take(limiter), status=429)  # a new round, already at the floor
    assert limiter.in_flight_limit == 3


def test_without_max_in_flight_the_first_429_halves_what_is_in_flight() -> None:
    limiter, _ = _limiter()
    assert limiter.in_flight_limit is None
    permits = [_take(limiter) for _ in range(6)]
    limiter.failure(permits[0], status=429)
    assert limiter.in_flight_limit == 3


def test_retry_after_pauses_everyone_until_the_latest_deadline_once() -> None:
    limiter, clock = _limiter(max_in_flight=8)
    first, second = _take(limiter), _take(limiter)
    limiter.failure(first, retry_after=1.0)
    assert limiter.try_acquire() == pytest.approx(1.0)
    clock.advance(0.5)
    limiter.failure(second, status=503, retry_after=1.0)  # pause moves to t=1.5, not 2.0
    assert limiter.try_acquire() == pytest.approx(1.0)
    assert limiter.stats()["paused_s"] == pytest.approx(1.0)
    # the caller whose Retry-After was 1.0 sleeps exactly that in its retry loop: when it
    # wakes, the pause is over and it goes at once (no second wait on top of its own)
    clock.advance(1.0)
    assert isinstance(limiter.try_acquire(), Permit)


def test_not_adaptive_ignores_429s() -> None:
    limiter, _ = _limiter(max_in_flight=4, adaptive=False)
    limiter.failure(_take(limiter), status=429, retry_after=5.0)
    assert limiter.in_flight_limit == 4
    assert isinstance(limiter.try_acquire(), Permit)


def test_refused_calls_give_their_tokens_back_failed_transfers_keep_them() -> None:
    limiter, _ = _limiter(tokens_per_minute=600)
    limiter.failure(_take(limiter, 100), status=400)
    assert limiter.stats()["tokens_available"] == pytest.approx(600)
    limiter.failure(_take(limiter, 100))  # a timeout: the server may have done the work
    assert limiter.stats()["tokens_available"] == pytest.approx(500)
    assert limiter.stats()["tokens"] == 100


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"requests_per_second": 0}, "requests_per_second=0"),
        ({"tokens_per_minute": -5}, "tokens_per_minute=-5"),
        ({"requests_per_second": math.inf}, "requests_per_second=inf"),
        ({"max_in_flight": 0}, "max_in_flight=0"),
        ({"max_in_flight": 2.5}, "max_in_flight=2.5"),
        ({"max_in_flight": 2, "min_in_flight": 3}, "min_in_flight=3"),
        ({"burst": 0.5}, "burst=0.5"),
    ],
)
def test_bad_limits_say_which_value(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=f"RateLimit\\({says}"):
        RateLimit(**options)


def test_share_splits_a_limit_between_processes() -> None:
    limit = RateLimit(requests_per_second=10, tokens_per_minute=90_000, max_in_flight=10, burst=20)
    third = limit.share(1 / 3)
    assert third.requests_per_second == pytest.approx(10 / 3)
    assert third.tokens_per_minute == pytest.approx(30_000)
    assert third.burst == pytest.approx(20 / 3)
    assert third.max_in_flight == 3
    tiny = RateLimit(requests_per_second=2, max_in_flight=10, min_in_flight=4).share(1 / 32)
    assert (tiny.max_in_flight, tiny.min_in_flight, tiny.request_burst) == (1, 1, 1.0)
    assert RateLimit().share(0.5) == RateLimit()
    with pytest.raises(ConfigError, match=r"share\(0\).*1 / number_of_workers"):
        limit.share(0)


def test_a_backend_takes_one_limit_or_one_per_model() -> None:
    url = "http://127.0.0.1:9/v1"
    one = OpenAICompatibleBackend(url, api_key_env=None, rate_limit=RateLimit(max_in_flight=2))
    assert one.rate_limiter() is one.rate_limiter("any-model") is not None
    assert OpenAICompatibleBackend(url, api_key_env=None).rate_limiter() is None
    shared = RateLimiter(RateLimit(max_in_flight=1))
    per_model = OpenAICompatibleBackend(
        url, api_key_env=None, rate_limit={"big": RateLimit(max_in_flight=1), "small": shared}
    )
    assert per_model.rate_limiter("small") is shared
    assert per_model.rate_limiter("other") is None
    with pytest.raises(ConfigError, match=r"per model; name one .*'big', 'small'"):
        per_model.rate_limiter()
    with pytest.raises(ConfigError, match="maps a model name to a RateLimit"):
        OpenAICompatibleBackend(url, rate_limit={"big": 3})  # type: ignore[dict-item]


# -- waiting callers (real clock, no HTTP) ---------------------------------------------------


def test_threads_and_tasks_wait_in_one_queue_under_one_limit() -> None:
    limiter = RateLimiter(RateLimit(max_in_flight=2))
    lock, now, peak = threading.Lock(), [0], [0]

    def hold() -> None:
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.005)
        with lock:
            now[0] -= 1

    def sync_call() -> None:
        permit = limiter.acquire()
        hold()
        limiter.success(permit)

    async def async_call() -> None:
        permit = await limiter.aacquire()
        await asyncio.to_thread(hold)
        limiter.success(permit)

    async def main() -> None:
        with ThreadPoolExecutor(4) as pool:
            threads = [pool.submit(sync_call) for _ in range(20)]
            await asyncio.gather(*(async_call() for _ in range(20)))
            for future in threads:
                future.result(timeout=30)

    asyncio.run(main())
    stats = limiter.stats()
    assert peak[0] == stats["peak_in_flight"] == 2
    assert (stats["requests"], stats["in_flight"], stats["waiting"]) == (40, 0, 0)
    assert stats["waited_s"] > 0


def test_waiters_go_in_arrival_order_and_a_cancelled_one_leaves_the_queue() -> None:
    limiter = RateLimiter(RateLimit(max_in_flight=1))
    order: list[int] = []

    async def call(number: int) -> None:
        permit = await limiter.aacquire()
        order.append(number)
        await asyncio.sleep(0.001)
        limiter.success(permit)

    async def main() -> None:
        holder = await limiter.aacquire()
        tasks = [asyncio.create_task(call(i)) for i in range(6)]
        await asyncio.sleep(0.01)  # all six are queued now
        tasks[2].cancel()
        limiter.success(holder)
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)

    asyncio.run(main())
    assert order == [0, 1, 3, 4, 5]
    assert limiter.stats()["waiting"] == 0


# -- over real HTTP --------------------------------------------------------------------------


@pytest.fixture
def timed_server() -> Iterator[tuple[MockModelServer, list[float]]]:
    """A mock server that notes when each request arrived (time.monotonic())."""
    arrivals: list[float] = []

    def answer(request: dict[str, Any]) -> str:
        arrivals.append(time.monotonic())
        return "ok"

    with MockModelServer(answer=answer) as server:
        yield server, arrivals


def _run_async(backend: OpenAICompatibleBackend, prompts: list[str]) -> list[ModelResponse]:
    async def run() -> list[ModelResponse]:
        async with backend:
            return await asyncio.gather(*(backend.achat("mock-model", p) for p in prompts))

    return asyncio.run(run())


def test_requests_per_second_holds_over_http(
    timed_server: tuple[MockModelServer, list[float]],
) -> None:
    server, arrivals = timed_server
    limit = RateLimit(requests_per_second=10, burst=1)
    backend = OpenAICompatibleBackend(server.base_url, retry=FAST, rate_limit=limit)
    began = time.monotonic()
    responses = _run_async(backend, [f"q{i}" for i in range(21)])
    assert len(responses) == 21 and server.stats()["requests"] == 21
    # 21 requests at 10/s: the last is let through 2 s after the first (the limiter's own
    # spacing is exact: test_requests_per_second_is_exact)
    assert time.monotonic() - began >= 1.9
    # at the server, arrivals are the grants shifted by each request's way there, which a
    # busy machine lengthens unevenly: the bounds leave room for that, and unlimited, all 21
    # would arrive within a few milliseconds (a burst of 10 ignored would put 20 in a second)
    times = sorted(arrivals)
    assert times[-1] - times[0] >= 1.0
    assert max(sum(1 for t in times if start <= t < start + 1.0) for start in times) <= 15


def test_max_in_flight_holds_over_http(server: MockModelServer) -> None:
    server.set_latency(0.05)
    backend = OpenAICompatibleBackend(
        server.base_url, retry=FAST, rate_limit=RateLimit(max_in_flight=4)
    )
    responses = _run_async(backend, [f"q{i}" for i in range(40)])
    assert len(responses) == 40
    stats = server.stats()
    assert stats["requests"] == 40
    assert 2 <= stats["max_in_flight"] <= 4
    limiter = backend.rate_limiter()
    assert limiter is not None and limiter.stats()["peak_in_flight"] <= 4


def test_a_429_storm_lowers_the_limit_and_successes_raise_it(server: MockModelServer) -> None:
    server.set_latency(0.02)
    # Retry-After 1 s: all 8 first requests reach the server (5 answered 429) before any
    # retry, even on a busy machine
    server.set_faults([Fault(status=429, retry_after=1.0, times=5)])
    backend = OpenAICompatibleBackend(
        server.base_url, retry=FAST, rate_limit=RateLimit(max_in_flight=8)
    )
    limiter = backend.rate_limiter()
    assert limiter is not None
    began = time.monotonic()
    first = _run_async(backend, [f"a{i}" for i in range(8)])
    assert time.monotonic() - began >= 1.0  # the retries waited for the Retry-After
    assert sorted(r.attempts for r in first) == [1, 1, 1, 2, 2, 2, 2, 2]
    stats = limiter.stats()
    assert (stats["throttled"], stats["decreases"]) == (5, 1)  # one halving for one storm
    assert limiter.in_flight_limit is not None and limiter.in_flight_limit < 8
    second = _run_async(backend, [f"b{i}" for i in range(60)])
    assert all(r.attempts == 1 for r in second)
    assert limiter.in_flight_limit == 8
    assert limiter.stats()["increases"] >= 3
    assert server.stats()["by_status"] == {"200": 68, "429": 5}
    assert server.stats()["max_in_flight"] <= 8


def test_a_retry_after_pauses_other_callers_too(
    timed_server: tuple[MockModelServer, list[float]],
) -> None:
    server, arrivals = timed_server
    server.set_faults([Fault(status=429, retry_after=0.5, match="first")])
    backend = OpenAICompatibleBackend(server.base_url, retry=FAST, rate_limit=RateLimit())
    limiter = backend.rate_limiter()
    assert limiter is not None

    async def run() -> list[ModelResponse]:
        async with backend:
            first = asyncio.create_task(backend.achat("mock-model", "first"))
            while limiter.stats()["throttled"] == 0:  # until the 429 is in: a pause began
                await asyncio.sleep(0.005)
            second = asyncio.create_task(backend.achat("mock-model", "second"))
            return [await first, await second]

    began = time.monotonic()
    first, second = asyncio.run(run())
    assert (first.attempts, second.attempts) == (2, 1)
    assert server.stats()["by_status"] == {"200": 2, "429": 1}
    assert min(arrivals) - began >= 0.45  # "second" waited for the pause as well


def test_a_retry_after_beyond_the_cap_fails_that_call_and_pauses_nobody(
    server: MockModelServer,
) -> None:
    server.set_faults([Fault(status=429, retry_after=30)])
    policy = RetryPolicy(initial_delay=0.01, max_delay=0.05, retry_after_cap=1.0)
    backend = OpenAICompatibleBackend(server.base_url, retry=policy, rate_limit=RateLimit())
    with backend, pytest.raises(ModelUnavailableError, match="asked to wait 30 s"):
        backend.chat("mock-model", "hi")
    limiter = backend.rate_limiter()
    assert limiter is not None
    assert limiter.stats()["paused_s"] == 0
    assert backend.chat("mock-model", "again").attempts == 1


def test_sync_and_async_callers_of_one_backend_share_one_limit(server: MockModelServer) -> None:
    server.set_latency(0.05)
    limit = RateLimit(requests_per_second=20, burst=1, max_in_flight=3)
    backend = OpenAICompatibleBackend(server.base_url, retry=FAST, rate_limit=limit)

    async def main() -> None:
        async with backend:
            with ThreadPoolExecutor(4) as pool:
                threads = [pool.submit(backend.chat, "mock-model", f"t{i}") for i in range(16)]
                await asyncio.gather(*(backend.achat("mock-model", f"a{i}") for i in range(16)))
                for future in threads:
                    future.result(timeout=60)

    began = time.monotonic()
    asyncio.run(main())
    backend.close()
    assert time.monotonic() - began >= 1.4  # 32 requests at 20/s: 1.55 s at the least
    stats = server.stats()
    assert stats["requests"] == 32 and stats["by_status"] == {"200": 32}
    assert stats["max_in_flight"] <= 3
    limiter = backend.rate_limiter()
    assert limiter is not None and limiter.stats()["requests"] == 32


def test_tokens_are_charged_by_real_usage_and_refused_calls_cost_none(
    server: MockModelServer,
) -> None:
    backend = OpenAICompatibleBackend(
        server.base_url, retry=FAST, rate_limit=RateLimit(tokens_per_minute=60_000)
    )
    with backend:
        response = backend.chat("mock-model", "How many tokens is this?", max_tokens=500)
        server.set_faults([Fault(status=400)])
        with pytest.raises(ModelRequestError):
            backend.chat("mock-model", "refused", max_tokens=500)
    limiter = backend.rate_limiter()
    assert limiter is not None
    stats = limiter.stats()
    used = response.usage.total_tokens
    assert 0 < used < 500 and stats["tokens"] == used
    assert (stats["succeeded"], stats["failed"], stats["throttled"]) == (1, 1, 0)


def test_the_anthropic_backend_goes_through_its_limiter(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    limit = RateLimit(tokens_per_minute=60_000, max_in_flight=1)
    with AnthropicBackend(server.url, retry=FAST, rate_limit=limit) as backend:
        response = backend.chat("mock-model", "hello", max_tokens=64)
    limiter = backend.rate_limiter("mock-model")
    assert limiter is not None
    stats = limiter.stats()
    assert (stats["requests"], stats["succeeded"]) == (1, 1)
    assert stats["tokens"] == response.usage.total_tokens > 0
