"""Counters of the mock server, and the log of recent requests; safe across threads."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

__all__ = ["REQUEST_LOG_SIZE", "Stats"]

REQUEST_LOG_SIZE = 1000


class Stats:
    """What the server saw under /v1/: requests, concurrency, outcomes, applied faults.

    An outcome is the status code sent, or "dropped" (connection closed on purpose, no
    response) or "cancelled" (the client went away before the answer).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.in_flight = 0
        self._clear()

    def _clear(self) -> None:
        self.requests = 0
        self.max_in_flight = self.in_flight
        self.by_status: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.dropped = 0
        self.cancelled = 0
        self._log.clear()

    def reset(self) -> None:
        """Forget everything except the requests still in flight."""
        with self._lock:
            self._clear()

    def begin(self, path: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_path[path] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self, outcome: str) -> None:
        with self._lock:
            self.in_flight -= 1
            if outcome == "dropped":
                self.dropped += 1
            elif outcome == "cancelled":
                self.cancelled += 1
            else:
                self.by_status[outcome] += 1

    def fault(self, label: str) -> None:
        with self._lock:
            self.faults[label] += 1

    def log(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._log.append(entry)

    def answered(self, entry: dict[str, Any], status: int | None) -> None:
        """Note when the answer to a logged request was made (then sent at once), and its
        status."""
        with self._lock:
            entry["answered_at"] = time.time()
            entry["status"] = status

    def delayed(self, entry: dict[str, Any], seconds: float) -> None:
        """Note the latency the server applied to a logged request before answering it."""
        with self._lock:
            entry["delay_s"] = seconds

    def request_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "by_status": dict(sorted(self.by_status.items())),
                "by_path": dict(sorted(self.by_path.items())),
                "faults": dict(sorted(self.faults.items())),
                "dropped": self.dropped,
                "cancelled": self.cancelled,
            }
