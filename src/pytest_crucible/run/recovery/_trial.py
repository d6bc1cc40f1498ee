"""`TrialRecovery`: the retry record of one trial, over all its condition calls and reruns."""

from __future__ import annotations

import dataclasses
import random
import threading
from typing import Any, cast

from pytest_crucible.declare.policies import ErrorHandling
from pytest_crucible.run.recovery._attempts import (
    Attempts,
    ErrorEntry,
    FinalStatus,
    RetryRecord,
    entry_of,
    stop_status,
)

__all__ = ["NO_RETRIES", "TrialRecovery"]

# What a trial of an experiment without `error_handling=` runs under: each condition call is
# made once, its outcome is still recorded (and a permanent failure still dead-lettered).
NO_RETRIES = ErrorHandling(max_retries=0, breaker=None)


class TrialRecovery:
    """Retry bookkeeping for one trial, fed by the condition wrapper and the trial runner.

    Each condition call runs under its own `Attempts` (`start_call`, then `end_call`); a
    metric validation failure under `on_invalid="retry"` reruns the whole trial function
    (`validation_failed`). `record()` merges them into one `RetryRecord`: `attempts` is
    1 + the retries made (of calls and of reruns), `retry_delays` and `error_history` list
    them in order (attempt numbers count the trial's tries), and `final_status` is the
    outcome of the last call or rerun that ended. Jitter is drawn from
    `random.Random(seed)`, not from the trial's own `rng`, whose numbers the trial uses.
    Thread-safe: calls of one trial may run concurrently.
    """

    def __init__(self, handling: ErrorHandling, *, seed: int) -> None:
        self.handling = handling
        self._seed = seed
        self._rng: random.Random | None = None
        self._lock = threading.Lock()
        self._entries: list[ErrorEntry] = []
        self._delays: list[float] = []
        self._status: FinalStatus | None = None
        self._reruns = 0

    def __repr__(self) -> str:
        return f"TrialRecovery({len(self._delays)} retries, status={self._status})"

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            self._rng = random.Random(self._seed)
        return self._rng

    def start_call(self) -> Attempts:
        """Bookkeeping for one condition call (its retries included). The jitter generator
        is made only when a retry needs one (a Random costs ~20 us, per trial)."""
        return Attempts(self.handling, rng=cast(random.Random, _LazyRandom(self)))

    def end_call(self, attempts: Attempts) -> None:
        """Absorb a call's attempts once they are over (unfinished ones are ignored: a
        fatal exception such as KeyboardInterrupt ended them)."""
        if not attempts.done:
            return
        record = attempts.record()
        with self._lock:
            base = len(self._delays)
            for entry in record.error_history:
                self._entries.append(dataclasses.replace(entry, attempt=base + entry.attempt))
            self._delays.extend(record.retry_delays)
            self._status = record.final_status

    def validation_failed(self, exc: BaseException) -> float | None:
        """The trial's metrics failed validation with a retryable error: the delay before
        rerunning the trial, or None when the policy says stop (the error then stands)."""
        with self._lock:
            self._reruns += 1
            decision = self.handling.decide(self._reruns, exc, self.rng)
            entry = entry_of(exc, decision)
            self._entries.append(dataclasses.replace(entry, attempt=len(self._delays) + 1))
            if not decision.retry:
                self._status = stop_status(decision)
                return None
            self._delays.append(decision.delay)
            return decision.delay

    @property
    def final_status(self) -> FinalStatus | None:
        """None while nothing ended (no condition call was made)."""
        with self._lock:
            return self._final_status()

    def _final_status(self) -> FinalStatus | None:
        if self._status is None and self._entries:
            return "success"  # retried, and nothing failed for good since
        return self._status

    def record(self) -> RetryRecord | None:
        """The trial's merged record; None when it made no condition call."""
        with self._lock:
            status = self._final_status()
            if status is None:
                return None
            return RetryRecord(
                attempts=1 + len(self._delays),
                retry_delays=tuple(self._delays),
                final_status=status,
                error_history=tuple(self._entries),
            )

    def to_dict(self) -> dict[str, Any] | None:
        """`record().to_dict()` (what the store keeps in `trials.recovery`), or None."""
        record = self.record()
        return record.to_dict() if record is not None else None


class _LazyRandom:
    """Stands in for a trial's jitter `random.Random` until one of its methods is used."""

    def __init__(self, owner: TrialRecovery) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner.rng, name)
