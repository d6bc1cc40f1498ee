"""Rate limits shared by the processes of a run (`RateLimit(shared=True)`): limiters that
stand for several processes lease permits from one bucket (a fake of the store's, on an
injected clock); blocks grow and lapse; without a source each process limits itself alone.
The store's own bucket is tested in tests/test_store_interface.py, the whole path against the
mock server in tests/test_e2e_shared_rate.py."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import pytest

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm import OpenAICompatibleBackend, RateLimit, RateLimiter
from pytest_crucible.llm._rate_limiter import Permit
from pytest_crucible.llm.shared_rate import use_shared_permits

from .test_ratelimit import Clock


class FakeStore:
    """The semantics of `ResultStore.take_rate_permits`, on the test's clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}
        self.asked: list[tuple[str, int]] = []

    def take(self, bucket: str, wanted: int, rate: float, capacity: float) -> tuple[int, float]:
        now = self.clock.now
        self.asked.append((bucket, wanted))
        level, stamp = self.buckets.get(bucket, (capacity, now))
        level = min(capacity, level + rate * max(0.0, now - stamp))
        granted = max(0, min(wanted, math.floor(level + 1e-9)))
        self.buckets[bucket] = (level - granted, max(now, stamp))
        level -= granted
        return granted, 0.0 if level + 1e-9 >= 1 else (1 - level) / rate


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> Iterator[FakeStore]:
    fake = FakeStore(clock)
    use_shared_permits(fake)
    yield fake
    use_shared_permits(None)


def _grants(limiters: list[RateLimiter], clock: Clock, calls: int) -> list[float]:
    """When each of `calls` calls is let through, taking turns among `limiters` (one per
    process), each waiting as told; t=0: start."""
    start, times, turn = clock.now, list[float](), 0
    while len(times) < calls:
        got = limiters[turn % len(limiters)].try_acquire()
        if isinstance(got, Permit):
            times.append(round(clock.now - start, 9))
            limiters[turn % len(limiters)].success(got)
            turn += 1
        else:
            assert 0 < got < math.inf
            clock.advance(got)
    return times


def _shared(clock: Clock, **options: float) -> RateLimiter:
    return RateLimiter(RateLimit(shared=True, **options), clock=clock, scope="http://h/v1 m")


def test_processes_sharing_a_limit_take_turns_at_its_rate(clock: Clock, store: FakeStore) -> None:
    processes = [_shared(clock, requests_per_second=10, burst=4) for _ in range(3)]
    # the burst at once (less the one permit a lease may hold), then one request every
    # 1 / rate seconds, whichever process sends it
    expected = [0, 0, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert _grants(processes, clock, 9) == pytest.approx(expected)
    assert {bucket for bucket, _ in store.asked} == {"requests http://h/v1 m"}


def test_a_busy_process_leases_growing_blocks_within_the_burst(
    clock: Clock, store: FakeStore
) -> None:
    """At 100 requests/s a block grows to a tenth of a second's worth (10): the store is
    asked far less often than requests go, and no second holds more than burst + rate."""
    limiter = _shared(clock, requests_per_second=100, burst=20)
    times = _grants([limiter], clock, 400)
    assert [wanted for _, wanted in store.asked[:5]] == [1, 2, 4, 8, 10]
    assert len(store.asked) < 400 / 8  # a block of 10 per trip, once grown
    most = max(sum(1 for t in times if start <= t < start + 1) for start in times)
    assert most <= 20 + 100


def test_permits_not_used_within_their_lease_lapse(clock: Clock, store: FakeStore) -> None:
    limiter = _shared(clock, requests_per_second=100, burst=50)
    _grants([limiter], clock, 4)  # blocks of 1 and 2, then a block of 4: 3 left
    clock.advance(1.0)  # past the lease: they are not spent a second late
    _grants([limiter], clock, 1)
    stats = limiter.stats()
    assert stats["shared_lapsed"] == 3
    assert stats["shared_leases"] == len(store.asked) == 4


def test_without_a_shared_bucket_each_process_limits_itself(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    limiter = _shared(clock, requests_per_second=10, burst=2)
    with caplog.at_level(logging.WARNING):
        assert _grants([limiter], clock, 4) == pytest.approx([0, 0, 0.1, 0.2])
    assert "outside a pytest session" in caplog.text
    assert "keeps 10 requests/s by itself" in caplog.text


class BrokenStore:
    def take(self, bucket: str, wanted: int, rate: float, capacity: float) -> tuple[int, float]:
        raise OSError("disk I/O error")


def test_a_failing_shared_bucket_leaves_the_process_its_own_limit(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    use_shared_permits(BrokenStore())
    try:
        limiter = _shared(clock, requests_per_second=10, burst=2)
        with caplog.at_level(logging.WARNING):
            assert _grants([limiter], clock, 3) == pytest.approx([0, 0, 0.1])
    finally:
        use_shared_permits(None)
    assert "the shared bucket failed: disk I/O error" in caplog.text


def test_a_backend_keys_shared_buckets_by_its_base_url_and_model(store: FakeStore) -> None:
    limits = {"m1": RateLimit(requests_per_second=5, shared=True)}
    backend = OpenAICompatibleBackend(
        base_url="http://provider.test/v1", api_key_env=None, rate_limit=limits
    )
    one = OpenAICompatibleBackend(
        base_url="http://other.test/v1",
        api_key_env=None,
        rate_limit=RateLimit(requests_per_second=5, shared=True),
    )
    for limiter in (backend.rate_limiter("m1"), one.rate_limiter()):
        assert limiter is not None and isinstance(limiter.try_acquire(), Permit)
    assert [bucket for bucket, _ in store.asked] == [
        "requests http://provider.test/v1 m1",
        "requests http://other.test/v1 *",
    ]


def test_a_shared_limit_needs_a_request_rate() -> None:
    with pytest.raises(ConfigError, match="give requests_per_second= the provider's limit"):
        RateLimit(tokens_per_minute=1000, shared=True)
    with pytest.raises(ConfigError, match=r"shared='yes'\): give True or False"):
        RateLimit(requests_per_second=1, shared="yes")  # type: ignore[arg-type]


def test_a_burst_of_one_is_shared_permit_by_permit(clock: Clock, store: FakeStore) -> None:
    processes = [_shared(clock, requests_per_second=10, burst=1) for _ in range(2)]
    assert _grants(processes, clock, 4) == pytest.approx([0, 0.1, 0.2, 0.3])
    assert [wanted for _, wanted in store.asked if wanted != 1] == []
