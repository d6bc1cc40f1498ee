"""The one way library code records on the running trial (llm/context.py): the runner points
the sink at the trial; `update_trial_result` is a read-modify-write under the trial's lock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import pytest_crucible as crucible
from pytest_crucible.errors import TrialUsageError
from pytest_crucible.llm.context import note_trial_result, update_trial_result
from pytest_crucible.run.current_trial import enter_trial
from pytest_crucible.run.trial import Trial


def _trial() -> Trial:
    exp = crucible.Experiment(
        "sink",
        dataset=[{"id": "x", "input": 2}],
        conditions={"double": lambda v: v * 2},
        metrics=("score",),
    )
    plan = exp.plan()
    return Trial(plan.trials[0], plan)


def _count(previous: Any | None) -> dict[str, int]:
    return {"calls": (previous or {}).get("calls", 0) + 1}


def test_outside_a_trial_nothing_is_called_or_kept() -> None:
    seen: list[Any] = []
    assert update_trial_result("hedge", lambda previous: seen.append(previous)) is False
    assert note_trial_result("ensemble", {"answer": "4"}) is False
    assert seen == []  # the update was never called


def test_inside_a_trial_two_updates_accumulate() -> None:
    trial = _trial()
    leave = enter_trial(trial)
    try:
        assert update_trial_result("hedge", _count) is True
        assert update_trial_result("hedge", _count) is True
        assert note_trial_result("ensemble", {"answer": "4"}) is True
    finally:
        leave()
    assert trial.results == {"hedge": {"calls": 2}, "ensemble": {"answer": "4"}}
    record = trial.to_record(status="passed")
    assert record.results == {"hedge": {"calls": 2}, "ensemble": {"answer": "4"}}
    # after leaving, the sink is the previous one again (none here)
    assert update_trial_result("hedge", _count) is False
    assert trial.results["hedge"] == {"calls": 2}


def test_updates_from_the_trials_threads_all_count() -> None:
    trial = _trial()

    def many() -> None:
        for _ in range(200):
            update_trial_result("hedge", _count)

    async def main() -> None:
        # asyncio.to_thread copies the context, so each thread sees the trial's sink
        await asyncio.gather(*(asyncio.to_thread(many) for _ in range(8)))

    leave = enter_trial(trial)
    try:
        asyncio.run(main())
    finally:
        leave()
    assert trial.results["hedge"] == {"calls": 1600}


def test_an_update_that_is_not_json_is_refused_and_the_value_kept() -> None:
    trial = _trial()
    leave = enter_trial(trial)
    try:
        update_trial_result("hedge", _count)
        with pytest.raises(TrialUsageError, match="takes JSON values"):
            update_trial_result("hedge", lambda previous: {"calls": {1, 2}})
        with pytest.raises(TrialUsageError, match="non-empty string"):
            update_trial_result("", _count)
    finally:
        leave()
    assert trial.results == {"hedge": {"calls": 1}}


def test_a_trial_function_updates_its_own_result_as_documented() -> None:
    trial = _trial()
    trial.update_result("retries", lambda n: (n or 0) + 1)  # docs/running.md
    trial.update_result("retries", lambda n: (n or 0) + 1)
    assert trial.results == {"retries": 2}
