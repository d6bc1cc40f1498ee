"""Reliability strategies measured as conditions: ensembles of models with voting.

    from pytest_crucible.strategies import ensemble
    ens = ensemble([(backend, "m1"), (backend, "m2"), (backend, "m3")], vote="majority")

Strategies call models through the backends of `pytest_crucible.llm` (so the trial's
cache, replay, budget, rate limits and retries apply to every call) and keep what they did
on the running trial through `llm.context.note_trial_result`. See docs/strategies.md.
"""

from __future__ import annotations

from pytest_crucible.strategies._ensemble import Ensemble, ensemble
from pytest_crucible.strategies._ensemble_members import Member, trailing_confidence
from pytest_crucible.strategies._ensemble_result import EnsembleResult, MemberAnswer
from pytest_crucible.strategies._ensemble_run import EXECUTIONS
from pytest_crucible.strategies._ensemble_vote import VOTES

__all__ = [
    "EXECUTIONS",
    "VOTES",
    "Ensemble",
    "EnsembleResult",
    "Member",
    "MemberAnswer",
    "ensemble",
    "trailing_confidence",
]
