"""A requests-per-second bucket shared by every process of a run: `RateLimit(shared=True)`.

The bucket itself lives where all processes can reach it (the results store, given by the
session through `use_shared_permits`: this layer knows nothing of stores). A process leases a
small block of permits at a time, so the store is not asked before every request: the block
starts at one permit, doubles while leases are used up before they lapse, halves when one
lapses unused, and never exceeds `max_block` (about a tenth of a second's worth).

The guarantee is the one of a local bucket: in any window of T seconds the run sends at most
`burst + rate * T` requests. A leased block may be spent up to its lease time L = block / rate
after it was taken, so the shared bucket holds `burst - max_block` at most and the lease
covers the rest: `(burst - max_block) + rate * (T + L) <= burst + rate * T`.

Without a permit source (a backend used outside a pytest session) or when the source fails,
the bucket is local to the process, with a message saying so once.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Protocol

from pytest_crucible.llm._bucket import Bucket

__all__ = ["LEASE_S", "SharedPermits", "SharedRequests", "shared_permits", "use_shared_permits"]

logger = logging.getLogger(__name__)

LEASE_S = 0.1  # the largest block is this many seconds' worth of permits


class SharedPermits(Protocol):
    """Where the shared buckets are (the session gives one backed by the results store)."""

    def take(self, bucket: str, wanted: int, rate: float, capacity: float) -> tuple[int, float]:
        """Up to `wanted` permits from `bucket` (created full, refilled at `rate` per second
        up to `capacity`), and the seconds until it holds another one."""
        ...


_source: SharedPermits | None = None
_source_lock = threading.Lock()


def use_shared_permits(source: SharedPermits | None) -> None:
    """Make `source` this process's shared buckets (None: none, every bucket is local)."""
    global _source
    with _source_lock:
        _source = source


def shared_permits() -> SharedPermits | None:
    return _source


class SharedRequests:
    """The requests bucket of a shared `RateLimit`, as `RateLimiter` uses its local one:
    `refill(now)`, `delay(1)`, `take(1)`; `now` on the limiter's clock (only lease lapses are
    timed with it: the shared bucket keeps the time of the store)."""

    def __init__(self, bucket: str, rate: float, burst: float) -> None:
        self.bucket, self.rate = bucket, rate
        self.max_block = max(1, min(math.ceil(rate * LEASE_S), math.floor(burst) - 1))
        # the store's bucket keeps back what a lease may still spend; a burst below 2 has
        # nothing to keep back: its single permits never lapse (a process that holds one while
        # it waits for an in-flight slot may send it late: one request over the bound)
        self.lease_s = 0.0 if burst < 2 else self.max_block / rate
        self.capacity = burst if burst < 2 else burst - self.max_block
        self.block = 1
        self.held = 0
        self.expires = self.retry_at = self.now = -math.inf
        self.takes = self.lapsed = 0
        self._local: Bucket | None = None
        self._burst = burst

    @property
    def level(self) -> float:
        return self.held if self._local is None else self._local.level

    def refill(self, now: float) -> None:
        self.now = now
        if self._local is not None:
            self._local.refill(now)

    def delay(self, cost: float) -> float:
        """Seconds until a permit may be had (0: now), leasing a block when none is held."""
        if self._local is not None:
            return self._local.delay(cost)
        if self.held >= 1 and (self.lease_s == 0 or self.now < self.expires):
            return 0.0
        self._lapse()
        if self.now < self.retry_at:
            return self.retry_at - self.now
        return self._lease()

    def take(self, cost: float) -> None:
        if self._local is not None:
            self._local.take(cost)
        else:
            self.held -= 1
            if self.held == 0 and self.lease_s > 0:
                self.block = min(self.max_block, self.block * 2)  # used up in time: lease more

    def _lapse(self) -> None:
        if self.held > 0:
            self.lapsed += self.held
            self.held = 0
            self.block = max(1, self.block // 2)

    def _lease(self) -> float:
        source = shared_permits()
        if source is None:
            return self._go_local("no shared bucket in this process (outside a pytest session)")
        try:
            granted, wait_s = source.take(self.bucket, self.block, self.rate, self.capacity)
        except Exception as exc:  # the store is gone or locked: limit this process alone
            return self._go_local(f"the shared bucket failed: {exc}")
        self.takes += 1
        if wait_s > 0:  # the bucket is empty: ask again when it holds a whole block
            self.retry_at = self.now + max(wait_s + (self.block - 1) / self.rate, 1e-3)
        if granted < 1:
            return self.retry_at - self.now
        self.held, self.expires = granted, self.now + self.lease_s
        return 0.0

    def _go_local(self, why: str) -> float:
        logger.warning(
            "rate limit %s: %s; this process keeps %.4g requests/s by itself",
            self.bucket,
            why,
            self.rate,
        )
        self._local = Bucket(self.rate, self._burst, self.now)
        return self._local.delay(1)
