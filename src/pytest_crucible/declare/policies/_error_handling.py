"""`ErrorHandling`: the one retry policy. Which failures are retried, how often, how long to
wait between tries; `decide` answers a failed attempt. Condition calls run under the one an
experiment declares, model calls under the one a backend's `RetryPolicy` builds; the retry
engine (`util/retrying.py`) carries both out."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn

from pytest_crucible.declare.policies._breaker import CircuitBreakerSettings
from pytest_crucible.declare.policies._classify import Classification, classify, is_fatal
from pytest_crucible.declare.policies._errors import RecoverySettingsError
from pytest_crucible.util.hints import retry_after_of

__all__ = [
    "DEFAULT_PERMANENT_STATUS_CODES",
    "DEFAULT_RETRY_STATUS_CODES",
    "Classifier",
    "ErrorHandling",
    "Jitter",
    "RetryAfter",
    "RetryDecision",
    "Strategy",
]

Strategy = Literal["exponential", "constant", "linear"]
Jitter = Literal["none", "full", "equal"] | float
Classifier = Callable[[BaseException], Classification | None]
RetryAfter = Literal["at_least", "exact"]

# 529 is "overloaded" at some providers; the rest are the usual transient statuses.
DEFAULT_RETRY_STATUS_CODES: tuple[int, ...] = (408, 425, 429, 500, 502, 503, 504, 529)
DEFAULT_PERMANENT_STATUS_CODES: tuple[int, ...] = (400, 401, 403, 404, 422)

_JITTER_NAMES = {"none": 0.0, "equal": 0.5, "full": 1.0}


@dataclass(frozen=True)
class RetryDecision:
    """The answer to a failed attempt: retry after `delay` seconds, or stop."""

    retry: bool
    delay: float
    classification: Classification
    attempt: int


@dataclass(frozen=True)
class ErrorHandling:
    """How the calls of a trial are retried.

    strategy: base delay before retry n (1-based) is `initial_delay * factor**(n-1)`
    ("exponential"), `initial_delay` ("constant") or `initial_delay * n` ("linear"), capped
    at `max_delay` seconds.
    max_retries: retries after the first attempt (0 = no retries).
    jitter: the delay is drawn uniformly from `[(1 - f) * base, base]`: f = 0 ("none"),
    0.5 ("equal"), 1 ("full") or any fraction in [0, 1].
    retry_on / permanent: exception types that are always retried / never retried (the most
    specific match in the exception's class hierarchy wins).
    retry_status_codes / permanent_status_codes: HTTP statuses (read from the exception)
    that are retried / not retried.
    classify: a hook `classify(exc) -> "retry" | "permanent" | None`, asked first; None
    falls through to the rules above.
    unknown: what an exception no rule knows about is ("permanent" by default: retrying a
    bug wastes time and money).
    max_retry_after: a server's Retry-After hint is honoured (even above `max_delay`) up to
    this many seconds.
    retry_after: "at_least" (the delay is raised to the hint, a longer hint is cut to
    `max_retry_after`) or "exact" (the hint replaces the delay, and a hint longer than
    `max_retry_after` ends the retries: what `llm.RetryPolicy` does with a model's answers).
    breaker: circuit-breaker settings for the run, or None for no breaker.

    The defaults suit rate-limited model APIs: 5 retries, exponential from 1 s doubling to at
    most 60 s, full jitter, Retry-After honoured.
    """

    strategy: Strategy = "exponential"
    max_retries: int = 5
    initial_delay: float = 1.0
    max_delay: float = 60.0
    factor: float = 2.0
    jitter: Jitter = "full"
    retry_on: tuple[type[BaseException], ...] = ()
    permanent: tuple[type[BaseException], ...] = ()
    retry_status_codes: tuple[int, ...] = DEFAULT_RETRY_STATUS_CODES
    permanent_status_codes: tuple[int, ...] = DEFAULT_PERMANENT_STATUS_CODES
    classify: Classifier | None = field(default=None, compare=False)
    unknown: Classification = "permanent"
    max_retry_after: float = 300.0
    retry_after: RetryAfter = "at_least"
    breaker: CircuitBreakerSettings | None = field(default_factory=CircuitBreakerSettings)

    def __post_init__(self) -> None:
        if self.strategy not in ("exponential", "constant", "linear"):
            _bad("strategy", self.strategy, "use 'exponential', 'constant' or 'linear'")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            _bad("max_retries", self.max_retries, "must be an integer (0 = no retries)")
        if self.max_retries < 0:
            _bad("max_retries", self.max_retries, "must be >= 0 (0 = no retries)")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            _check_seconds(name, getattr(self, name))
        if self.initial_delay > self.max_delay:
            _bad("initial_delay", self.initial_delay, f"exceeds max_delay={self.max_delay}")
        if not _is_number(self.factor) or not 1.0 <= self.factor < math.inf:
            _bad("factor", self.factor, "must be a finite number >= 1")
        _jitter_fraction(self.jitter)  # validates
        object.__setattr__(self, "retry_on", _types("retry_on", self.retry_on))
        object.__setattr__(self, "permanent", _types("permanent", self.permanent))
        both = set(self.retry_on) & set(self.permanent)
        if both:
            names = sorted(t.__name__ for t in both)
            _bad("permanent", names, "these types are also in retry_on; keep each in one list")
        retry = _codes("retry_status_codes", self.retry_status_codes)
        permanent = _codes("permanent_status_codes", self.permanent_status_codes)
        if set(retry) & set(permanent):
            _bad(
                "permanent_status_codes",
                sorted(set(retry) & set(permanent)),
                "these codes are also in retry_status_codes; keep each in one list",
            )
        object.__setattr__(self, "retry_status_codes", retry)
        object.__setattr__(self, "permanent_status_codes", permanent)
        if self.classify is not None and not callable(self.classify):
            _bad("classify", self.classify, "must be a callable exc -> 'retry'|'permanent'|None")
        if self.unknown not in ("permanent", "retry"):
            _bad("unknown", self.unknown, "use 'permanent' or 'retry'")
        if self.retry_after not in ("at_least", "exact"):
            _bad("retry_after", self.retry_after, "use 'at_least' or 'exact'")
        if self.breaker is not None and not isinstance(self.breaker, CircuitBreakerSettings):
            _bad("breaker", self.breaker, "use CircuitBreakerSettings(...) or None")

    @property
    def jitter_fraction(self) -> float:
        """The jitter as a fraction in [0, 1]."""
        return _jitter_fraction(self.jitter)

    def base_delay(self, attempt: int) -> float:
        """The delay before retry `attempt` (1-based) without jitter, capped at `max_delay`."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt={attempt!r}: retries are numbered from 1")
        if self.strategy == "constant" or self.initial_delay == 0:
            base = self.initial_delay
        elif self.strategy == "linear":
            base = self.initial_delay * attempt
        else:
            exponent = (attempt - 1) * math.log(self.factor)
            if exponent > math.log(self.max_delay / self.initial_delay):
                return self.max_delay  # also avoids overflowing factor**(attempt-1)
            base = self.initial_delay * math.exp(exponent)
        return min(base, self.max_delay)

    def delay(
        self,
        attempt: int,
        rng: random.Random | None = None,
        error: BaseException | None = None,
        *,
        now: float | None = None,
    ) -> float:
        """Seconds to wait before retry `attempt` (1-based).

        The jittered base delay lies in [0, max_delay]; a Retry-After hint carried by `error`
        raises it to the hint (at most `max_retry_after`). Deterministic given `rng` (the
        module's generator is used when it is None) and, for HTTP-date hints, `now`.
        """
        hint = None if error is None else retry_after_of(error, now=now)
        if hint is not None and self.retry_after == "exact":
            return min(hint, self.max_retry_after)
        base = self.base_delay(attempt)
        fraction = self.jitter_fraction
        if fraction and base:
            draw = (rng or random).random()
            base *= 1.0 - fraction * draw
        if hint is not None:
            base = max(base, min(hint, self.max_retry_after))
        return base

    def decide(
        self,
        attempt: int,
        error: BaseException,
        rng: random.Random | None = None,
        *,
        now: float | None = None,
        classification: Classification | None = None,
    ) -> RetryDecision:
        """Attempt number `attempt` (1-based) raised `error`: retry it, after how long?

        `classification` overrides `classify(error, self)` (an on_error hook's answer), except
        for fatal exceptions, which are never retried. The delay (0 when not retrying) is
        `delay(attempt, rng, error, now=now)`."""
        if classification is None or is_fatal(error):
            classification = classify(error, self)
        retry = (
            classification == "retry"
            and attempt <= self.max_retries
            and not self.gives_up_on(error, now=now)
        )
        delay = self.delay(attempt, rng, error, now=now) if retry else 0.0
        return RetryDecision(retry, delay, classification, attempt)

    def gives_up_on(self, error: BaseException | None, *, now: float | None = None) -> bool:
        """Whether `error`'s Retry-After ends the retries: it asks for more than
        `max_retry_after` under `retry_after="exact"`."""
        if self.retry_after != "exact" or error is None:
            return False
        hint = retry_after_of(error, now=now)
        return hint is not None and hint > self.max_retry_after


def _bad(name: str, value: Any, why: str) -> NoReturn:
    raise RecoverySettingsError(f"ErrorHandling({name}={value!r}): {why}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_seconds(name: str, value: Any) -> None:
    if not _is_number(value) or not 0 <= value < math.inf:
        _bad(name, value, "must be a finite number of seconds >= 0")


def _jitter_fraction(jitter: Any) -> float:
    if isinstance(jitter, str):
        if jitter in _JITTER_NAMES:
            return _JITTER_NAMES[jitter]
    elif _is_number(jitter) and 0 <= jitter <= 1:
        return float(jitter)
    _bad("jitter", jitter, "use 'none', 'equal', 'full' or a fraction between 0 and 1")


def _types(name: str, value: Any) -> tuple[type[BaseException], ...]:
    if isinstance(value, str):
        _bad(name, value, "pass exception classes (e.g. TimeoutError), not their names")
    items: Iterable[Any] = (value,) if isinstance(value, type) else value
    try:
        result = tuple(items)
    except TypeError:
        _bad(name, value, "must be an exception type or a tuple of them")
    for item in result:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            _bad(name, value, f"{item!r} is not an exception type")
        if name == "retry_on" and not issubclass(item, Exception):
            _bad(name, value, f"{item.__name__} is never retried (only Exception subclasses are)")
    return result


def _codes(name: str, value: Any) -> tuple[int, ...]:
    try:
        codes = tuple(value)
    except TypeError:
        _bad(name, value, "must be a list of HTTP status codes")
    for code in codes:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            _bad(name, value, f"{code!r} is not an HTTP status code (100..599)")
    return tuple(sorted(set(codes)))
