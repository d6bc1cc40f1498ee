"""`CircuitBreaker`: stop a run when too many of its recent trials failed."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, NoReturn

from pytest_crucible.run.recovery._errors import CircuitOpenError, RecoverySettingsError

__all__ = ["CircuitBreaker", "CircuitBreakerSettings"]


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


class CircuitBreaker:
    """Fed each trial's final outcome in completion order; trips once and stays tripped.

    Feed `failed=True` for trials that ended in an error (retries exhausted or a permanent
    error), not for trials whose answer was merely wrong. Pure and deterministic; not
    thread-safe (feed it from one thread, e.g. where reports are processed).
    """

    def __init__(self, settings: CircuitBreakerSettings | None = None) -> None:
        self.settings = settings or CircuitBreakerSettings()
        self._recent: deque[bool] = deque(maxlen=self.settings.window)
        self.seen = 0
        self.tripped = False
        self.reason = ""

    def __repr__(self) -> str:
        state = "tripped" if self.tripped else "closed"
        return f"CircuitBreaker({state}, {self.failures}/{len(self._recent)} recent failures)"

    @property
    def failures(self) -> int:
        """Failed trials among the last `window`."""
        return sum(self._recent)

    @property
    def recent(self) -> int:
        """Trials in the window (at most `window`)."""
        return len(self._recent)

    def record(self, failed: bool) -> bool:
        """Feed one trial's outcome; return whether the breaker is (now) tripped."""
        if self.tripped:
            return True
        self.seen += 1
        self._recent.append(bool(failed))
        count, n = self.failures, len(self._recent)
        threshold = self.settings.failure_rate
        if n >= self.settings.min_trials and count / n > threshold:
            self.tripped = True
            rate, limit = _percentages(count / n, threshold)
            self.reason = (
                f"{count} of the last {n} trials failed ({rate} > {limit}); "
                "the run stops here and can be resumed with --crucible-resume"
            )
        return self.tripped

    def check(self) -> None:
        """Raise `CircuitOpenError` (with the reason) if the breaker tripped."""
        if self.tripped:
            raise CircuitOpenError(self.reason)


def _percentages(rate: float, limit: float) -> tuple[str, str]:
    """Both as percentages, with as many decimals as it takes for them to differ."""
    for digits in range(5):
        a, b = f"{rate * 100:.{digits}f}%", f"{limit * 100:.{digits}f}%"
        if a != b:
            return a, b
    return f"{rate * 100}%", f"{limit * 100}%"  # pragma: no cover - rates this close are rare


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad(name: str, value: Any, why: str) -> NoReturn:
    raise RecoverySettingsError(f"CircuitBreakerSettings({name}={value!r}): {why}")
