"""Reliability strategies around model calls and conditions: request hedging (docs/strategies.md).

from pytest_crucible.strategies import Percentile, hedge

p95 = Percentile(95)  # made once, shared by the calls: it learns their latencies
answer = await hedge(lambda: backend.achat(model, prompt), policy=p95, budget=0.1)
"""

from __future__ import annotations

from pytest_crucible.strategies._hedge import Hedged, HedgeRecord, hedge, hedge_outcome, hedged
from pytest_crucible.strategies._hedge_policy import (
    Adaptive,
    Fixed,
    HedgePolicy,
    Percentile,
    WorkloadAware,
)

__all__ = [
    "Adaptive",
    "Fixed",
    "HedgePolicy",
    "HedgeRecord",
    "Hedged",
    "Percentile",
    "WorkloadAware",
    "hedge",
    "hedge_outcome",
    "hedged",
]
