"""ErrorHandling: validation of its settings and the delays it gives."""

from __future__ import annotations

import itertools
import random

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_crucible.errors import ConfigError, CrucibleError
from pytest_crucible.run.recovery import (
    CircuitBreakerSettings,
    ErrorHandling,
    RecoverySettingsError,
)


class Hinted(Exception):
    def __init__(self, retry_after: object) -> None:
        super().__init__("rate limited")
        self.retry_after = retry_after


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"strategy": "fibonacci"}, "strategy"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"initial_delay": -1.0}, "initial_delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"initial_delay": 10.0, "max_delay": 5.0}, "initial_delay"),
        ({"factor": 0.5}, "factor"),
        ({"factor": float("nan")}, "factor"),
        ({"jitter": "some"}, "jitter"),
        ({"jitter": 1.5}, "jitter"),
        ({"jitter": True}, "jitter"),
        ({"retry_on": ("TimeoutError",)}, "retry_on"),
        ({"retry_on": "TimeoutError"}, "retry_on"),
        ({"retry_on": (KeyboardInterrupt,)}, "retry_on"),
        ({"permanent": 3}, "permanent"),
        ({"retry_on": (OSError,), "permanent": (OSError,)}, "permanent"),
        ({"retry_status_codes": (429, 700)}, "retry_status_codes"),
        ({"retry_status_codes": 429}, "retry_status_codes"),
        ({"permanent_status_codes": (429,)}, "permanent_status_codes"),
        ({"classify": "retry"}, "classify"),
        ({"unknown": "maybe"}, "unknown"),
        ({"max_retry_after": -5}, "max_retry_after"),
        ({"breaker": {"window": 10}}, "breaker"),
    ],
)
def test_bad_settings_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(RecoverySettingsError, match=rf"ErrorHandling\({field}="):
        ErrorHandling(**options)  # type: ignore[arg-type]


def test_settings_errors_are_config_errors_in_the_crucible_tree() -> None:
    with pytest.raises(ConfigError) as info:
        ErrorHandling(max_retries=-1)
    assert isinstance(info.value, CrucibleError)


def test_defaults_suit_rate_limited_apis() -> None:
    handling = ErrorHandling()
    assert handling.strategy == "exponential"
    assert handling.max_retries >= 3
    assert 429 in handling.retry_status_codes and 503 in handling.retry_status_codes
    assert 401 in handling.permanent_status_codes
    assert handling.jitter_fraction > 0
    assert handling.unknown == "permanent"
    assert handling.breaker == CircuitBreakerSettings()


def test_single_exception_type_and_codes_are_normalised() -> None:
    handling = ErrorHandling(retry_on=OSError, retry_status_codes=[503, 429, 503])  # type: ignore[arg-type]
    assert handling.retry_on == (OSError,)
    assert handling.retry_status_codes == (429, 503)


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("exponential", [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]),
        ("constant", [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        ("linear", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    ],
)
def test_base_delays_per_strategy(strategy: str, expected: list[float]) -> None:
    handling = ErrorHandling(strategy=strategy, initial_delay=1.0, max_delay=10.0, factor=2.0)  # type: ignore[arg-type]
    assert [handling.base_delay(n) for n in range(1, 7)] == pytest.approx(expected)


def test_huge_attempt_numbers_do_not_overflow() -> None:
    handling = ErrorHandling(initial_delay=0.5, max_delay=30.0, factor=10.0)
    assert handling.base_delay(10_000) == 30.0


@pytest.mark.parametrize("attempt", [0, -1, 1.5, True])
def test_attempts_are_numbered_from_one(attempt: object) -> None:
    with pytest.raises(ValueError, match="numbered from 1"):
        ErrorHandling().base_delay(attempt)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("jitter", "low", "high"),
    [("none", 4.0, 4.0), ("equal", 2.0, 4.0), ("full", 0.0, 4.0), (0.25, 3.0, 4.0)],
)
def test_jitter_ranges(jitter: object, low: float, high: float) -> None:
    handling = ErrorHandling(jitter=jitter, initial_delay=1.0, factor=2.0)  # type: ignore[arg-type]
    rng = random.Random(7)
    delays = [handling.delay(3, rng) for _ in range(500)]
    assert min(delays) >= low and max(delays) <= high
    if low < high:  # the draws actually spread over the range
        assert max(delays) - min(delays) > 0.8 * (high - low)


def test_delays_are_deterministic_given_the_rng() -> None:
    handling = ErrorHandling()
    first = [handling.delay(n, random.Random(42)) for n in range(1, 6)]
    second = [handling.delay(n, random.Random(42)) for n in range(1, 6)]
    assert first == second


def test_retry_after_raises_the_delay_even_above_max_delay() -> None:
    handling = ErrorHandling(jitter="none", initial_delay=1.0, max_delay=10.0)
    assert handling.delay(1, error=Hinted(30)) == 30.0
    assert handling.delay(1, error=Hinted("0.5")) == 1.0  # a shorter hint does not shorten
    assert handling.delay(1, error=Hinted(10_000)) == handling.max_retry_after


def test_retry_after_header_of_an_httpx_status_error() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(429, headers={"Retry-After": "7"}, request=request)
    error = httpx.HTTPStatusError("429", request=request, response=response)
    handling = ErrorHandling(jitter="none", initial_delay=1.0)
    assert handling.delay(1, error=error) == 7.0


@given(
    strategy=st.sampled_from(["exponential", "constant", "linear"]),
    initial=st.floats(0, 5),
    extra=st.floats(0, 100),
    factor=st.floats(1, 10),
    jitter=st.one_of(st.sampled_from(["none", "equal", "full"]), st.floats(0, 1)),
    attempt=st.integers(1, 200),
    seed=st.integers(0, 2**32),
)
def test_delay_always_within_zero_and_max_delay(
    strategy: str,
    initial: float,
    extra: float,
    factor: float,
    jitter: object,
    attempt: int,
    seed: int,
) -> None:
    handling = ErrorHandling(
        strategy=strategy,  # type: ignore[arg-type]
        initial_delay=initial,
        max_delay=initial + extra,
        factor=factor,
        jitter=jitter,  # type: ignore[arg-type]
    )
    delay = handling.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= handling.max_delay


@given(
    hint=st.floats(0, 10_000),
    attempt=st.integers(1, 50),
    seed=st.integers(0, 2**32),
)
def test_delay_with_a_hint_is_at_least_the_capped_hint(
    hint: float, attempt: int, seed: int
) -> None:
    handling = ErrorHandling(max_delay=20.0, max_retry_after=120.0)
    delay = handling.delay(attempt, random.Random(seed), Hinted(hint))
    assert min(hint, 120.0) <= delay <= max(20.0, min(hint, 120.0))


@given(
    strategy=st.sampled_from(["exponential", "linear", "constant"]),
    initial=st.floats(0, 5),
    extra=st.floats(0, 100),
    factor=st.floats(1, 10),
)
def test_base_delays_never_decrease(
    strategy: str, initial: float, extra: float, factor: float
) -> None:
    handling = ErrorHandling(
        strategy=strategy,  # type: ignore[arg-type]
        initial_delay=initial,
        max_delay=initial + extra,
        factor=factor,
    )
    bases = [handling.base_delay(n) for n in range(1, 60)]
    assert all(a <= b for a, b in itertools.pairwise(bases))
    assert bases[0] == pytest.approx(initial)
