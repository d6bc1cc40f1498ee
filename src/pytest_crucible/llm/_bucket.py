"""A token bucket, the unit of every rate limit (`_rate_limiter.py`, `shared_rate.py`)."""

from __future__ import annotations

__all__ = ["Bucket"]

_SLACK = 1e-9  # float rounding: a bucket this close to enough has enough


class Bucket:
    """A token bucket: `capacity` at most, refilled at `rate` per second. It may go negative
    (a call larger than the bucket, or real usage above the estimate): a debt paid by waiting."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate, self.capacity, self.level, self.stamp = rate, capacity, capacity, now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def delay(self, cost: float) -> float:
        """Seconds until `cost` can be taken (a cost above the capacity: until it is full)."""
        missing = min(cost, self.capacity) - self.level
        return 0.0 if missing <= _SLACK else missing / self.rate

    def give(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)

    def take(self, cost: float) -> None:
        self.level -= cost
