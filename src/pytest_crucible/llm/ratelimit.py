"""Rate limits for model backends: `RateLimit` says what to allow, `RateLimiter`
(`_rate_limiter.py`) enforces it.

    backend = OpenAICompatibleBackend(rate_limit=RateLimit(requests_per_second=5,
                                                          tokens_per_minute=200_000,
                                                          max_in_flight=32))
    backend.rate_limiter().in_flight_limit, backend.rate_limiter().stats()

Every HTTP attempt (a retry is a new attempt) takes a permit before it is sent and gives it
back when its answer is in; what a permit needs, how waiting callers queue and how the
in-flight limit adapts to 429s is told in `_rate_limiter.py`. An attempt is charged its
estimated tokens (`estimate_tokens`: characters / 4 of the messages plus `max_tokens`),
corrected by the answer's real usage afterwards. `build_limiters` turns a backend's
`rate_limit=` into its limiters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm._rate_limiter import Permit, RateLimiter
from pytest_crucible.llm.types import ModelRequest

__all__ = ["Permit", "RateLimit", "RateLimiter", "build_limiters", "estimate_tokens"]


@dataclass(frozen=True)
class RateLimit:
    """What a backend may send: `requests_per_second` (bucket of `burst` requests, default
    one second's worth, at least 1), `tokens_per_minute` (bucket of one minute's worth),
    `max_in_flight` calls at once; `adaptive` lowers the in-flight limit on 429s and raises
    it again on successes, never below `min_in_flight`. None: no limit of that kind.
    `shared`: `requests_per_second` and `burst` are the budget of the whole run, shared
    through the results store by every process (xdist workers, joined machines) calling this
    provider and model (`shared_rate.py`; off by default: a limit is per process, as before,
    and a backend outside a pytest session has no store to share through)."""

    requests_per_second: float | None = None
    tokens_per_minute: float | None = None
    max_in_flight: int | None = None
    adaptive: bool = True
    min_in_flight: int = 1
    burst: float | None = None
    shared: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.shared, bool):
            raise ConfigError(f"RateLimit(shared={self.shared!r}): give True or False")
        if self.shared and self.requests_per_second is None:
            raise ConfigError(
                "RateLimit(shared=True) shares requests_per_second across the run's processes;"
                " give requests_per_second= the provider's limit"
            )
        for name in ("requests_per_second", "tokens_per_minute", "burst"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and math.isfinite(value) and value > 0
            ):
                raise ConfigError(f"RateLimit({name}={value!r}): give a number > 0, or None")
        if self.burst is not None and self.burst < 1:
            raise ConfigError(f"RateLimit(burst={self.burst!r}): a burst is at least 1 request")
        for name in ("max_in_flight", "min_in_flight"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"RateLimit({name}={value!r}): give a whole number >= 1")
            if value is not None and value < 1:
                raise ConfigError(f"RateLimit({name}={value!r}): give a whole number >= 1")
        if self.max_in_flight is not None and self.min_in_flight > self.max_in_flight:
            raise ConfigError(
                f"RateLimit(min_in_flight={self.min_in_flight}) is above "
                f"max_in_flight={self.max_in_flight}: lower min_in_flight"
            )

    @property
    def request_burst(self) -> float:
        """The capacity of the requests bucket."""
        return self.burst if self.burst is not None else max(1.0, self.requests_per_second or 1)

    def share(self, fraction: float) -> RateLimit:
        """This limit scaled for one of several processes that share it (`1 / workers`):
        rates and burst times `fraction`, max_in_flight rounded down; each at least 1."""
        if not (isinstance(fraction, int | float) and 0 < fraction <= 1):
            raise ConfigError(
                f"RateLimit.share({fraction!r}): give the fraction of the limit this process "
                "may use, 0 < fraction <= 1 (e.g. 1 / number_of_workers)"
            )

        def scaled(value: float | None) -> float | None:
            return None if value is None else value * fraction

        most = self.max_in_flight
        most = None if most is None else max(1, math.floor(most * fraction))
        return replace(
            self,
            requests_per_second=scaled(self.requests_per_second),
            tokens_per_minute=scaled(self.tokens_per_minute),
            burst=None if self.burst is None else max(1.0, self.burst * fraction),
            max_in_flight=most,
            min_in_flight=self.min_in_flight if most is None else min(self.min_in_flight, most),
        )


def estimate_tokens(request: ModelRequest) -> int:
    """Tokens a request may use, before it is sent: characters / 4 of its messages (text and
    tool-call arguments), rounded up, plus `max_tokens`."""
    chars = 0
    for message in request.messages:
        chars += len(message.content)
        for call in message.tool_calls:
            chars += len(call.name) + len(json.dumps(call.arguments))
    return math.ceil(chars / 4) + request.max_tokens


RateLimitSpec = RateLimit | RateLimiter | Mapping[str, RateLimit | RateLimiter] | None


def build_limiters(
    spec: RateLimitSpec, provider: str = "*"
) -> RateLimiter | dict[str, RateLimiter] | None:
    """A backend's `rate_limit=` as limiters: one for every model, or one per model name.
    `provider` (the backend's base URL) and the model name key shared limits: one `RateLimit`
    is one bucket for all of the provider's models ("*"); a limiter given ready-made keeps
    its own `scope`."""
    if spec is None or isinstance(spec, RateLimiter):
        return spec
    if isinstance(spec, RateLimit):
        return RateLimiter(spec, scope=f"{provider} *")
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"rate_limit={spec!r}: give a RateLimit(...), or a dict of them by model name"
        )
    limiters: dict[str, RateLimiter] = {}
    for model, limit in spec.items():
        if not isinstance(model, str) or not isinstance(limit, RateLimit | RateLimiter):
            raise ConfigError(
                f"rate_limit={{{model!r}: {limit!r}}}: each entry maps a model name to a "
                "RateLimit(...)"
            )
        limiters[model] = (
            limit
            if isinstance(limit, RateLimiter)
            else RateLimiter(limit, scope=f"{provider} {model}")
        )
    return limiters
