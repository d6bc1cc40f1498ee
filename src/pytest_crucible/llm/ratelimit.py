"""Rate limits for model backends: `RateLimit` says what to allow, `RateLimiter` enforces it.

    backend = OpenAICompatibleBackend(rate_limit=RateLimit(requests_per_second=5,
                                                          tokens_per_minute=200_000,
                                                          max_in_flight=32))
    backend.rate_limiter().in_flight_limit, backend.rate_limiter().stats()

Every HTTP attempt (a retry is a new attempt) takes a permit before it is sent and gives it
back when its answer is in. A permit needs: no pause in force, one request from the
requests-per-second bucket, the call's estimated tokens from the tokens-per-minute bucket
(characters / 4 of the messages plus `max_tokens`; corrected by the answer's real usage
afterwards) and a free in-flight slot. Callers that cannot have one wait in one FIFO queue:
only its head waits on a timer, the others until the head before them has gone, so waiting
costs no CPU however many callers wait.

Adaptive (AIMD, on by default): a 429, or any retryable failure with a Retry-After, halves
the in-flight limit (from the number of calls in flight, never below `min_in_flight`), at
most once per round of calls: a failure of a call sent before the last halving does not
halve again. A Retry-After also pauses everyone: no permit is given until the latest
deadline a server named. Each run of `limit` successes of calls sent under the current limit
raises it by one, up to `max_in_flight` (without one: no ceiling).

One state serves every caller: sync callers in threads and async callers on event loops
share a `threading.Lock`-protected core; a waiting thread blocks on its own `Event`, a
waiting task on its own future (woken across threads with `call_soon_threadsafe`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm._bucket import Bucket
from pytest_crucible.llm.shared_rate import SharedRequests
from pytest_crucible.llm.types import ModelRequest

__all__ = ["Permit", "RateLimit", "RateLimiter", "build_limiters", "estimate_tokens"]

logger = logging.getLogger(__name__)


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


@dataclass
class Permit:
    """The right to send one HTTP attempt; give it back with `success` or `failure`."""

    tokens: int
    epoch: int
    released: bool = False


class _Waiter:
    """A caller in the queue: a thread (`Event`) or a task (a future on its loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.event = threading.Event() if loop is None else None
        self.future: asyncio.Future[None] | None = None

    def arm(self) -> None:
        if self.event is not None:
            self.event.clear()
        else:
            assert self.loop is not None
            self.future = self.loop.create_future()

    def wake(self) -> bool:
        """Wake it (from any thread); False when its event loop is gone."""
        if self.event is not None:
            self.event.set()
            return True
        assert self.loop is not None
        if self.future is None:
            return True  # not armed yet: it checks (under the lock) before it first waits
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # the loop was closed under a waiting task
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RateLimiter:
    """The state of one `RateLimit` (see the module doc). `clock` is injectable for tests."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        scope: str = "*",
    ) -> None:
        """`scope` names a shared limit's bucket (the backend's base URL and model)."""
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        rps, tpm = limit.requests_per_second, limit.tokens_per_minute
        self._requests: Bucket | SharedRequests | None = None
        if rps is not None and limit.shared:
            self._requests = SharedRequests(f"requests {scope}", rps, limit.request_burst)
        elif rps is not None:
            self._requests = Bucket(rps, limit.request_burst, now)
        self._tokens = None if tpm is None else Bucket(tpm / 60.0, tpm, now)
        self._limit = limit.max_in_flight
        self._queue: deque[_Waiter] = deque()
        self._in_flight = self._peak = self._epoch = self._streak = 0
        self._paused_until = -math.inf
        self._counts = dict.fromkeys(
            ("requests", "succeeded", "failed", "throttled", "decreases", "increases", "tokens"), 0
        )
        self._waited = 0.0

    # -- taking a permit ---------------------------------------------------------------------

    def try_acquire(self, tokens: int = 0) -> Permit | float:
        """A permit now, or the seconds until one may be had (math.inf: not before a call in
        flight finishes, or while other callers wait: this never overtakes them)."""
        with self._lock:
            return math.inf if self._queue else self._grant(tokens, self._clock())

    def acquire(self, tokens: int = 0) -> Permit:
        """Block this thread until a permit for a call of `tokens` tokens is granted. Not on
        an event loop's thread: use `aacquire` there."""
        began, first = self._start(tokens, None)
        if isinstance(first, Permit):
            return first
        with self._queued(first):
            while not isinstance(turn := self._next_turn(first, tokens, began), Permit):
                assert first.event is not None
                first.event.wait(None if math.isinf(turn) else turn)
            return turn

    async def aacquire(self, tokens: int = 0) -> Permit:
        """The async twin of `acquire`: the task waits, its event loop does not."""
        loop = asyncio.get_running_loop()
        began, first = self._start(tokens, loop)
        if isinstance(first, Permit):
            return first
        with self._queued(first):
            while not isinstance(turn := self._next_turn(first, tokens, began), Permit):
                assert first.future is not None
                timer = None if math.isinf(turn) else loop.call_later(turn, _resolve, first.future)
                try:
                    await first.future
                finally:
                    if timer is not None:
                        timer.cancel()
            return turn

    def _start(
        self, tokens: int, loop: asyncio.AbstractEventLoop | None
    ) -> tuple[float, Permit | _Waiter]:
        """When the caller began, and a permit at once or its place in the queue."""
        began = self._clock()
        with self._lock:
            return began, self._first(tokens, began, loop)

    @contextlib.contextmanager
    def _queued(self, waiter: _Waiter) -> Iterator[None]:
        """A waiter that gives up (timeout, cancellation, Ctrl-C) leaves the queue."""
        try:
            yield
        except BaseException:
            self._leave(waiter)
            raise

    def _next_turn(self, waiter: _Waiter, tokens: int, began: float) -> Permit | float:
        """The waiter's permit, or the seconds to wait before asking again."""
        with self._lock:
            waiter.arm()
            return self._turn(waiter, tokens, began)

    def _first(
        self, tokens: int, now: float, loop: asyncio.AbstractEventLoop | None
    ) -> Permit | _Waiter:
        if not self._queue:
            granted = self._grant(tokens, now)
            if isinstance(granted, Permit):
                return granted
        waiter = _Waiter(loop)
        self._queue.append(waiter)
        return waiter

    def _turn(self, waiter: _Waiter, tokens: int, began: float) -> Permit | float:
        """A queued caller's check: the head may take a permit, the others wait to be woken."""
        if self._queue[0] is not waiter:
            return math.inf
        now = self._clock()
        granted = self._grant(tokens, now)
        if isinstance(granted, Permit):
            self._queue.popleft()
            self._waited += now - began
            self._wake_head()  # the next one may be able to go too
        return granted

    def _grant(self, tokens: int, now: float) -> Permit | float:
        delay = self._paused_until - now
        if self._requests is not None:
            self._requests.refill(now)
            delay = max(delay, self._requests.delay(1))
        if self._tokens is not None:
            self._tokens.refill(now)
            delay = max(delay, self._tokens.delay(tokens))
        if delay > 0:
            return delay
        if self._limit is not None and self._in_flight >= self._limit:
            return math.inf
        if self._requests is not None:
            self._requests.take(1)
        if self._tokens is not None:
            self._tokens.take(tokens)
        self._in_flight += 1
        self._peak = max(self._peak, self._in_flight)
        self._counts["requests"] += 1
        return Permit(tokens, self._epoch)

    def _leave(self, waiter: _Waiter) -> None:
        with self._lock:
            if waiter in self._queue:
                head = self._queue[0] is waiter
                self._queue.remove(waiter)
                if head:
                    self._wake_head()

    def _wake_head(self) -> None:
        while self._queue and not self._queue[0].wake():
            self._queue.popleft()  # a task whose event loop is gone

    # -- giving it back ----------------------------------------------------------------------

    def success(self, permit: Permit, used_tokens: int | None = None) -> None:
        """The attempt was answered (2xx). `used_tokens` (the response's real usage) replaces
        the estimate in the tokens bucket; None keeps the estimate."""
        with self._lock:
            if not self._release(permit):
                return
            used = permit.tokens if used_tokens is None else used_tokens
            self._counts["succeeded"] += 1
            self._counts["tokens"] += used
            if self._tokens is not None and used != permit.tokens:
                self._tokens.refill(self._clock())
                self._tokens.give(permit.tokens - used)
            if self.limit.adaptive and permit.epoch == self._epoch:
                self._raise_limit()
            self._wake_head()

    def failure(
        self, permit: Permit, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        """The attempt failed. An HTTP error status (>= 400) refunds its tokens (the server
        refused it); a 429 or a `retry_after` (seconds) throttles when adaptive."""
        with self._lock:
            if not self._release(permit):
                return
            now = self._clock()
            self._counts["failed"] += 1
            refused = status is not None and status >= 400
            if self._tokens is not None and refused:
                self._tokens.refill(now)
                self._tokens.give(permit.tokens)
            if not refused:
                self._counts["tokens"] += permit.tokens
            lowered = None
            if self.limit.adaptive and (status == 429 or retry_after is not None):
                lowered = self._throttle(permit, now, retry_after)
            self._wake_head()
            paused = max(0.0, self._paused_until - now)
        if lowered is not None:
            logger.info("rate limited: in-flight limit now %d, paused %.2f s", lowered, paused)

    def _release(self, permit: Permit) -> bool:
        if permit.released:
            return False
        permit.released = True
        self._in_flight -= 1
        return True

    def _throttle(self, permit: Permit, now: float, retry_after: float | None) -> int | None:
        """Pause until `retry_after`; halve the limit once a round. The new limit, if any."""
        self._counts["throttled"] += 1
        if retry_after is not None and retry_after > 0:
            self._paused_until = max(self._paused_until, now + retry_after)
        if permit.epoch != self._epoch:
            return None  # sent before the last halving: that one answered this round
        self._epoch += 1
        self._streak = 0
        flying = self._in_flight + 1  # with the call that failed
        base = flying if self._limit is None else min(self._limit, flying)
        lowered = max(self.limit.min_in_flight, base // 2)
        if lowered == self._limit:
            return None
        self._limit = lowered
        self._counts["decreases"] += 1
        return lowered

    def _raise_limit(self) -> None:
        if self._limit is None:
            return
        ceiling = self.limit.max_in_flight
        if ceiling is not None and self._limit >= ceiling:
            self._streak = 0
            return
        self._streak += 1
        if self._streak >= self._limit:
            self._limit += 1
            self._streak = 0
            self._counts["increases"] += 1

    # -- state -------------------------------------------------------------------------------

    @property
    def in_flight_limit(self) -> int | None:
        """The in-flight limit now (None: none)."""
        with self._lock:
            return self._limit

    def stats(self) -> dict[str, Any]:
        """in_flight, in_flight_limit, peak_in_flight, waiting callers; requests (permits
        given), succeeded, failed, throttled (429s / Retry-Afters seen), decreases and
        increases of the limit; paused_s left; waited_s (summed over callers that queued);
        tokens (charged: real usage, or the estimate when unknown); what the buckets hold."""
        with self._lock:
            now = self._clock()
            for bucket in (self._requests, self._tokens):
                if bucket is not None:
                    bucket.refill(now)
            return {
                "in_flight": self._in_flight,
                "in_flight_limit": self._limit,
                "peak_in_flight": self._peak,
                "waiting": len(self._queue),
                **self._counts,
                "paused_s": max(0.0, self._paused_until - now),
                "waited_s": self._waited,
                "requests_available": None if self._requests is None else self._requests.level,
                "tokens_available": None if self._tokens is None else self._tokens.level,
                **self._shared_stats(),
            }

    def _shared_stats(self) -> dict[str, Any]:
        """A shared limit's store round trips (`shared_leases`) and permits left unused."""
        shared = self._requests if isinstance(self._requests, SharedRequests) else None
        if shared is None:
            return {}
        return {"shared_leases": shared.takes, "shared_lapsed": shared.lapsed}

    def __repr__(self) -> str:
        with self._lock:
            return f"RateLimiter({self.limit!r}, in_flight={self._in_flight}/{self._limit})"


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
