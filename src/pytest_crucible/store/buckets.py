"""The arithmetic of a shared token bucket (`ResultStore.take_rate_permits`), one owner for
every backend: each reads the bucket's row, calls `take_from_bucket`, and writes the row
back in the same transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pytest_crucible.store.scale_records import RatePermits

__all__ = ["TakenPermits", "take_from_bucket"]

_ROUNDING = 1e-9  # a bucket this close to a whole permit holds it (float rounding of refills)


@dataclass(frozen=True)
class TakenPermits:
    """What a take gives the caller (`permits`) and the bucket's row to store."""

    permits: RatePermits
    level: float
    stamp: float


def take_from_bucket(
    level: float, stamp: float, now: float, wanted: int, rate: float, capacity: float
) -> TakenPermits:
    """Refill the bucket (`level` at `stamp`) up to `now`, then take up to `wanted` whole
    permits. A clock that went back refills nothing and keeps the later stamp."""
    if now > stamp:
        level, stamp = min(capacity, level + rate * (now - stamp)), now
    granted = max(0, min(wanted, math.floor(level + _ROUNDING)))
    level -= granted
    wait_s = 0.0 if level + _ROUNDING >= 1 else (1 - level) / rate
    return TakenPermits(RatePermits(granted, wait_s), level, stamp)
