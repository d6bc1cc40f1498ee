"""Reliability strategies around model calls, measured as conditions: request hedging
and ensembles of models with voting (docs/strategies.md).

    from pytest_crucible.strategies import Percentile, ensemble, hedge

    p95 = Percentile(95)  # made once, shared by the calls: it learns their latencies
    answer = await hedge(lambda: backend.achat(model, prompt), policy=p95, budget=0.1)
    ens = ensemble([(backend, "m1"), (backend, "m2"), (backend, "m3")], vote="majority")

Strategies call models through the backends of `pytest_crucible.llm` (so the trial's
cache, replay, budget, rate limits and retries apply to every call) and keep what they did
on the running trial.
"""

from __future__ import annotations

from pytest_crucible.strategies._ensemble import Ensemble, ensemble
from pytest_crucible.strategies._ensemble_members import Member, trailing_confidence
from pytest_crucible.strategies._ensemble_result import EnsembleResult, MemberAnswer
from pytest_crucible.strategies._ensemble_run import EXECUTIONS
from pytest_crucible.strategies._ensemble_vote import VOTES
from pytest_crucible.strategies._hedge import Hedged, HedgeRecord, hedge, hedge_outcome, hedged
from pytest_crucible.strategies._hedge_policy import (
    Adaptive,
    Fixed,
    HedgePolicy,
    Percentile,
    WorkloadAware,
)

__all__ = [
    "EXECUTIONS",
    "VOTES",
    "Adaptive",
    "Ensemble",
    "EnsembleResult",
    "Fixed",
    "HedgePolicy",
    "HedgeRecord",
    "Hedged",
    "Member",
    "MemberAnswer",
    "Percentile",
    "WorkloadAware",
    "ensemble",
    "hedge",
    "hedge_outcome",
    "hedged",
    "trailing_confidence",
]
