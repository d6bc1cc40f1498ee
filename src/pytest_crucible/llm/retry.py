"""When and how long to retry a model call: `RetryPolicy`, a model backend's face of the one
retry policy (`ErrorHandling`, built as `RetryPolicy.handling`), carried out by the retry
engine (`util/retrying.py`) as condition retries are.

Retried: timeouts, connection errors (refused, reset, dropped mid-answer) and the HTTP
statuses in `RetryPolicy.retry_statuses` (408, 429, 500, 502, 503, 504 and Anthropic's 529
"overloaded"). Everything else is permanent: other 4xx statuses, and a 2xx answer that is not
the JSON it should be (asking again gets the same broken answer).

Delays grow exponentially from `initial_delay` up to `max_delay`, with jitter (each delay is
drawn between half and all of its nominal value, from a private random generator so that the
jitter never disturbs a trial's seeded randomness). A server's `Retry-After` (seconds or an
HTTP date; also `retry-after-ms`) replaces the computed delay, even beyond `max_delay`, up to
`retry_after_cap`; a server that asks for more than the cap gets no further attempt and the
call fails at once with an error that says how long it asked for.

`sleep` and `async_sleep` are injectable so that tests of long waits do not wait.

In `ErrorHandling` terms: `max_retries=max_attempts - 1`, exponential from `initial_delay`
doubling up to `max_delay`, jitter "equal" (or "none"), `max_retry_after=retry_after_cap`
with `retry_after="exact"`, and only a `RetryableFailure` retried.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pytest_crucible.declare.policies import Classification, ErrorHandling, RetryDecision
from pytest_crucible.errors import ConfigError
from pytest_crucible.util.hints import parse_retry_after

__all__ = ["RETRY_STATUSES", "RetryPolicy", "RetryableFailure", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})

_JITTER = random.Random()  # never the global generator: trials seed that one


class RetryableFailure(Exception):
    """One attempt failed in a way worth retrying (raised inside the retry loop only; the
    backend turns the last one into a `ModelUnavailableError`)."""

    def __init__(
        self, description: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How a backend retries. Defaults: 5 attempts, delays from 1 s doubling up to 30 s with
    jitter, a server's Retry-After honoured up to 120 s."""

    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 30.0
    retry_after_cap: float = 120.0
    jitter: bool = True
    retry_statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], None] | None = field(default=None, compare=False, repr=False)
    async_sleep: Callable[[float], Awaitable[None]] | None = field(
        default=None, compare=False, repr=False
    )

    # the one retry policy these settings make (what the retry engine runs)
    handling: ErrorHandling = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"RetryPolicy(max_attempts={self.max_attempts}): must be >= 1")
        for name in ("initial_delay", "max_delay", "retry_after_cap"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"RetryPolicy({name}={value!r}): must be a finite number >= 0")
        if self.max_delay < self.initial_delay:
            raise ConfigError(
                f"RetryPolicy(max_delay={self.max_delay}) is below "
                f"initial_delay={self.initial_delay}: raise max_delay or lower initial_delay"
            )
        handling = ErrorHandling(
            max_retries=math.ceil(self.max_attempts) - 1,  # a fraction of one counted whole
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
            jitter="equal" if self.jitter else "none",
            max_retry_after=self.retry_after_cap,
            retry_after="exact",
            classify=_retry_marked_failures,
            breaker=None,
        )
        object.__setattr__(self, "handling", handling)

    @classmethod
    def none(cls) -> RetryPolicy:
        """One attempt, no retries."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int) -> float:
        """The delay after failed attempt number `attempt` (1-based) without a Retry-After."""
        return self.handling.delay(attempt, _JITTER)

    def too_long(self, failure: BaseException | None) -> bool:
        """Whether a failure's Retry-After asks for more than this policy will wait."""
        return self.handling.gives_up_on(failure)

    def decide(self, attempt: int, failure: BaseException) -> RetryDecision:
        """Attempt number `attempt` of a call raised `failure`: retry it, after how long?"""
        return self.handling.decide(attempt, failure, _JITTER)


def _retry_marked_failures(failure: BaseException) -> Classification:
    return "retry" if isinstance(failure, RetryableFailure) else "permanent"
