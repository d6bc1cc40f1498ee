"""The results store as the shared buckets of `RateLimit(shared=True)` (llm/shared_rate.py).

Every process of a run (the controller, xdist workers, processes on other machines using the
same store) opens the store once, on the first lease it needs, and takes permits with
`ResultStore.take_rate_permits`: one short transaction per block of permits.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pytest_crucible.store import ResultStore, open_store

__all__ = ["StorePermits"]


class StorePermits:
    """`llm.shared_rate.SharedPermits` kept in the store at `location`."""

    def __init__(self, location: str | Path) -> None:
        self.location = location
        self._store: ResultStore | None = None
        self._lock = threading.Lock()

    def take(self, bucket: str, wanted: int, rate: float, capacity: float) -> tuple[int, float]:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.location)
            permits = self._store.take_rate_permits(bucket, wanted, rate, capacity)
        return permits.granted, permits.wait_s

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
