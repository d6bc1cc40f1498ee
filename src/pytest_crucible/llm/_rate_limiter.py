"""`RateLimiter`, the state of one `RateLimit` (`ratelimit.py`), and the `Permit` it gives.

A permit needs: no pause in force, one request from the requests-per-second bucket, the
call's estimated tokens from the tokens-per-minute bucket (`estimate_tokens`; corrected by
the answer's real usage afterwards) and a free in-flight slot. Callers that cannot have one
wait in one FIFO queue: only its head waits on a timer, the others until the head before
them has gone, so waiting costs no CPU however many callers wait.

Adaptive (AIMD, on by default): a 429, or any retryable failure with a Retry-After, halves
the in-flight limit (from the number of calls in flight, never below `min_in_flight`), at
most once per round of calls: a failure of a call sent before the last halving does not
halve again. A Retry-After also pauses everyone: no permit is given until the latest
deadline a server named. Each run of `limit` successes of calls sent under the current limit
raises it by one, up to `max_in_flight` (without one: no ceiling).

One state serves every caller: sync callers in threads and async callers on event loops
share a `threading.Lock`-protected core; a waiting thread blocks on its own `Event`, a
waiting task on its own future (woken across threads with `call_soon_threadsafe`;
`_rate_waiter.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.llm._bucket import Bucket
from pytest_crucible.llm._rate_waiter import Waiter, resolve
from pytest_crucible.llm.shared_rate import SharedRequests

if TYPE_CHECKING:  # ratelimit.py imports this module: the declaration is only a type here
    from pytest_crucible.llm.ratelimit import RateLimit

__all__ = ["Permit", "RateLimiter"]

# The name users configure logging by (docs/models.md), where the limiter used to live.
logger = logging.getLogger("pytest_crucible.llm.ratelimit")


@dataclass
class Permit:
    """The right to send one HTTP attempt; give it back with `success` or `failure`."""

    tokens: int
    epoch: int
    released: bool = False


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
        self._queue: deque[Waiter] = deque()
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
                timer = None if math.isinf(turn) else loop.call_later(turn, resolve, first.future)
                try:
                    await first.future
                finally:
                    if timer is not None:
                        timer.cancel()
            return turn

    def _start(
        self, tokens: int, loop: asyncio.AbstractEventLoop | None
    ) -> tuple[float, Permit | Waiter]:
        """When the caller began, and a permit at once or its place in the queue."""
        began = self._clock()
        with self._lock:
            return began, self._first(tokens, began, loop)

    @contextlib.contextmanager
    def _queued(self, waiter: Waiter) -> Iterator[None]:
        """A waiter that gives up (timeout, cancellation, Ctrl-C) leaves the queue."""
        try:
            yield
        except BaseException:
            self._leave(waiter)
            raise

    def _next_turn(self, waiter: Waiter, tokens: int, began: float) -> Permit | float:
        """The waiter's permit, or the seconds to wait before asking again."""
        with self._lock:
            waiter.arm()
            return self._turn(waiter, tokens, began)

    def _first(
        self, tokens: int, now: float, loop: asyncio.AbstractEventLoop | None
    ) -> Permit | Waiter:
        if not self._queue:
            granted = self._grant(tokens, now)
            if isinstance(granted, Permit):
                return granted
        waiter = Waiter(loop)
        self._queue.append(waiter)
        return waiter

    def _turn(self, waiter: Waiter, tokens: int, began: float) -> Permit | float:
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

    def _leave(self, waiter: Waiter) -> None:
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
