"""CircuitBreaker: trips exactly when the failure rate over the window crosses the threshold."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_crucible.run.recovery import (
    CircuitBreaker,
    CircuitBreakerSettings,
    CircuitOpenError,
    RecoverySettingsError,
)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"window": 0}, "window"),
        ({"window": 2.5}, "window"),
        ({"failure_rate": 1.0}, "failure_rate"),
        ({"failure_rate": -0.1}, "failure_rate"),
        ({"failure_rate": "half"}, "failure_rate"),
        ({"min_trials": 0}, "min_trials"),
        ({"window": 5, "min_trials": 6}, "min_trials"),
    ],
)
def test_bad_settings_name_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(RecoverySettingsError, match=rf"CircuitBreakerSettings\({field}="):
        CircuitBreakerSettings(**options)  # type: ignore[arg-type]


def feed(breaker: CircuitBreaker, outcomes: str) -> list[bool]:
    """Feed "F"ailures and "."successes; the tripped flag after each."""
    return [breaker.record(char == "F") for char in outcomes]


def test_does_not_trip_before_min_trials() -> None:
    breaker = CircuitBreaker(CircuitBreakerSettings(window=20, failure_rate=0.5, min_trials=10))
    assert feed(breaker, "F" * 9) == [False] * 9
    assert breaker.record(True) is True
    assert breaker.reason == (
        "10 of the last 10 trials failed (100% > 50%); "
        "the run stops here and can be resumed with --crucible-resume"
    )


def test_trips_exactly_at_the_crossing_not_at_the_threshold() -> None:
    settings = CircuitBreakerSettings(window=20, failure_rate=0.5, min_trials=20)
    breaker = CircuitBreaker(settings)
    # 10 of 20 is 50%: not above the threshold
    assert not any(feed(breaker, ".F" * 10))
    assert breaker.failures == 10 and breaker.recent == 20
    # the next failure pushes out a success: 11 of 20
    assert breaker.record(True)
    assert breaker.reason.startswith("11 of the last 20 trials failed (55% > 50%)")


def test_the_window_forgets_old_failures() -> None:
    breaker = CircuitBreaker(CircuitBreakerSettings(window=4, failure_rate=0.5, min_trials=4))
    assert feed(breaker, "FF..") == [False] * 4  # FF.. : 2 of 4
    assert feed(breaker, "..") == [False, False]  # ....: old failures left the window
    assert breaker.failures == 0 and breaker.seen == 6
    assert feed(breaker, "FFF") == [False, False, True]  # .FFF: 3 of 4


def test_reason_of_the_brief() -> None:
    breaker = CircuitBreaker(CircuitBreakerSettings(window=20, failure_rate=0.5, min_trials=20))
    feed(breaker, "." * 8 + "F" * 11)
    assert not breaker.tripped  # 19 seen: fewer than min_trials
    breaker.record(True)  # 12 of the last 20
    assert breaker.reason.startswith("12 of the last 20 trials failed (60% > 50%)")


def test_percentages_keep_enough_decimals_to_differ() -> None:
    breaker = CircuitBreaker(CircuitBreakerSettings(window=500, failure_rate=0.5, min_trials=500))
    feed(breaker, "F" * 250 + "." * 249)
    assert not breaker.tripped
    breaker.record(True)  # 251 / 500 = 50.2%, which rounds to 50%
    assert "(50.2% > 50.0%)" in breaker.reason


def test_stays_tripped_and_check_raises() -> None:
    breaker = CircuitBreaker(CircuitBreakerSettings(window=2, failure_rate=0.0, min_trials=1))
    breaker.check()  # closed: nothing happens
    assert breaker.record(True)
    reason = breaker.reason
    assert feed(breaker, "....") == [True] * 4
    assert breaker.reason == reason
    with pytest.raises(CircuitOpenError, match="1 of the last 1 trials failed") as info:
        breaker.check()
    assert info.value.reason == reason
    assert "tripped" in repr(breaker)


def reference(settings: CircuitBreakerSettings, outcomes: list[bool]) -> int | None:
    """Index of the outcome that trips the breaker, computed from scratch."""
    for index in range(len(outcomes)):
        recent = outcomes[max(0, index + 1 - settings.window) : index + 1]
        if len(recent) >= settings.min_trials and sum(recent) / len(recent) > settings.failure_rate:
            return index
    return None


@given(
    window=st.integers(1, 30),
    rate=st.floats(0, 0.99),
    min_fraction=st.floats(0, 1),
    outcomes=st.lists(st.booleans(), max_size=80),
)
def test_matches_a_from_scratch_reference(
    window: int, rate: float, min_fraction: float, outcomes: list[bool]
) -> None:
    min_trials = max(1, round(min_fraction * window))
    settings = CircuitBreakerSettings(window=window, failure_rate=rate, min_trials=min_trials)
    breaker = CircuitBreaker(settings)
    flags = [breaker.record(failed) for failed in outcomes]
    trip = reference(settings, outcomes)
    expected = [trip is not None and i >= trip for i in range(len(outcomes))]
    assert flags == expected
    if trip is not None:
        recent = deque(outcomes[: trip + 1], maxlen=window)
        assert breaker.reason.startswith(f"{sum(recent)} of the last {len(recent)} trials")
        assert trip + 1 >= min_trials
