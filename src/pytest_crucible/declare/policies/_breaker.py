"""`CircuitBreakerSettings`: when a run stops because too many of its recent trials failed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from pytest_crucible.declare.policies._errors import RecoverySettingsError

__all__ = ["CircuitBreakerSettings"]


@dataclass(frozen=True)
class CircuitBreakerSettings:
    """Trip when, over the last `window` trials (once at least `min_trials` were seen), the
    share of failed trials exceeds `failure_rate` (strictly)."""

    window: int = 20
    failure_rate: float = 0.5
    min_trials: int = 10

    def __post_init__(self) -> None:
        if not _is_int(self.window) or self.window < 1:
            _bad("window", self.window, "must be an integer >= 1")
        rate = self.failure_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            _bad("failure_rate", rate, "must be a fraction in [0, 1) (0.5 = more than half)")
        if not _is_int(self.min_trials) or not 1 <= self.min_trials <= self.window:
            _bad("min_trials", self.min_trials, f"must be an integer in 1..window={self.window}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(name: str, value: Any, why: str) -> NoReturn:
    raise RecoverySettingsError(f"CircuitBreakerSettings({name}={value!r}): {why}")
