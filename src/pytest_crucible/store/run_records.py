"""What the store gives back about runs: a listed run (`RunInfo`), a run's own data
(`RunRecord`), a process that holds a run (`RunHolder`), model usage and trial times
(`ConditionUsage`, `TrialSpan`), and a named baseline (`StoredBaseline`). The operations
that return them are `ResultStore`'s (interface.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ConditionUsage", "RunHolder", "RunInfo", "RunRecord", "StoredBaseline", "TrialSpan"]


@dataclass(frozen=True)
class RunInfo:
    """A stored run, as listed by `ResultStore.runs`."""

    run_id: str
    experiment: str
    status: str
    seed: int
    fingerprint: str
    total_trials: int
    started_at: str
    ended_at: str | None
    sessions: int
    stored_trials: int
    passed_trials: int


@dataclass(frozen=True)
class RunRecord:
    """A stored run's own data: `columns` holds its plain columns (fingerprints, seed, git,
    timings, sessions, status, total_trials); JSON that does not decode is kept as text."""

    columns: dict[str, Any]
    header: dict[str, Any]
    config: Any
    environment: Any
    analysis: dict[str, Any] | None


@dataclass(frozen=True)
class RunHolder:
    """A process that holds a run (`holding.py` decides staleness)."""

    host: str
    pid: int
    started_at: str
    heartbeat_at: str
    lease_s: float


@dataclass(frozen=True)
class ConditionUsage:
    """Model usage of one condition's trials in a run (sums over its trials)."""

    condition: str
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    priced_trials: int  # trials with a cost
    counted_trials: int  # trials with token counts
    model_calls: int | None
    cache_hits: int | None  # answers that came from the recording or the cache
    truncated: int | None  # answers cut at max_tokens
    truncated_at: int | None  # the largest max_tokens that cut one


@dataclass(frozen=True)
class TrialSpan:
    """A passed trial's times (ISO 8601 UTC, None when not recorded) and usage."""

    condition: str
    started_at: str | None
    ended_at: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


@dataclass(frozen=True)
class StoredBaseline:
    """A named baseline kept in the store (its document: `ResultStore.baseline_document`)."""

    name: str
    experiment: str
    run_id: str
    created_at: str
