"""What the operations for many processes and many stores exchange (docs/scale.md): the
permits of a rate limit shared through the store (`RatePermits`), the claims of a joined
run's trials (`Claims`), and a run's whole content, which `crucible merge` copies
(`RunContent`). Their semantics are in `ResultStore` (interface.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Claims", "RatePermits", "RunContent"]


@dataclass(frozen=True)
class RatePermits:
    """What `ResultStore.take_rate_permits` gave: `granted` permits (0 to the number asked
    for), and `wait_s`, the seconds until the shared bucket holds another whole permit."""

    granted: int
    wait_s: float


@dataclass(frozen=True)
class RunContent:
    """Everything a store keeps of one run, as plain rows (what `crucible merge` copies).

    Each row is a dict of column name -> stored value, JSON columns as JSON text: `run` the
    row of the runs table (every column), `items`, `trials` (every column, `attempts` too)
    and `logs` (without their id) the run's rows of those tables, `sessions` its
    (started_at, ended_at) sessions, oldest first."""

    run: dict[str, Any]
    items: list[dict[str, Any]]
    trials: list[dict[str, Any]]
    logs: list[dict[str, Any]]
    sessions: list[tuple[str, str]]


@dataclass(frozen=True)
class Claims:
    """What `ResultStore.claim_trials` got: the keys now claimed by the caller, and the
    holder of each other key that is not stored yet (keys in neither are stored)."""

    claimed: list[str]
    held: dict[str, str]
