"""What watching and steering runs reads and writes (the dashboard, the MCP server,
`crucible cancel`): a saved configuration of an experiment (`Instance`), a trial's log line
(`LogLine`), a run's progress by condition (`RunProgress`, `ConditionProgress`) and a page of
its trials (`TrialPage`). Their operations are `ResultStore`'s (interface.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ConditionProgress", "Instance", "LogLine", "RunProgress", "TrialPage"]


@dataclass(frozen=True)
class Instance:
    """A named, saved configuration of an experiment: what the dashboard starts runs of."""

    name: str  # unique in the store
    experiment: str  # Experiment(name=...)
    source: str  # the test file, relative to the project root, e.g. "tests/test_qa.py"
    config: dict[str, Any]  # --crucible-set values (field -> value)
    conditions: list[str] | None  # None: all conditions
    repeats: int | None  # None: as declared
    seed: int | None  # None: as declared
    description: str
    created_at: str  # ISO 8601 UTC
    updated_at: str  # ISO 8601 UTC


@dataclass(frozen=True)
class LogLine:
    """One log line of a trial (`ResultStore.log_page`); `id` grows as lines are stored."""

    id: int
    trial_key: str
    condition: str
    item_id: str
    repeat: int
    level: str
    message: str
    created_at: str


@dataclass(frozen=True)
class ConditionProgress:
    """Stored trials of one condition of a run, by status."""

    condition: str
    passed: int
    failed: int
    skipped: int


@dataclass(frozen=True)
class RunProgress:
    """How far a run is (`ResultStore.run_progress`): `stored` trials of `total_trials`,
    per condition (in condition order); `last_stored_at` the latest end time of a stored
    trial; `cancel_requested` the reason of a pending cancel request."""

    run_id: str
    status: str
    total_trials: int
    stored: int
    by_condition: list[ConditionProgress]
    last_stored_at: str | None
    cancel_requested: str | None


@dataclass(frozen=True)
class TrialPage:
    """One page of a run's trials (`ResultStore.trial_page`): `total` matching trials."""

    total: int
    rows: list[dict[str, Any]]
