"""`CircuitBreaker`: stop a run when too many of its recent trials failed."""

from __future__ import annotations

from collections import deque

from pytest_crucible.declare.policies import CircuitBreakerSettings
from pytest_crucible.run.recovery._errors import CircuitOpenError

__all__ = ["CircuitBreaker"]


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
