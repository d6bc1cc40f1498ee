"""The trial handle and the condition wrapper, without pytest in between."""

from __future__ import annotations

import asyncio
import base64

import pytest

import pytest_crucible as crucible
from pytest_crucible.runner import BoundCondition, LoopThread, run_trial_function
from pytest_crucible.trial import Trial


def _trial(metrics: object = ("score",)) -> tuple[Trial, crucible.Experiment]:
    exp = crucible.Experiment(
        "t",
        dataset=[{"id": "x", "input": 2}],
        conditions={"double": lambda v: v * 2},
        metrics=metrics,  # type: ignore[arg-type]
    )
    plan = exp.plan()
    return Trial(plan.trials[0], plan), exp


def test_record_log_artifact_and_result() -> None:
    trial, _ = _trial()
    trial.record(score=0.5)
    trial.log("INFO", "hello", tokens=3)
    trial.artifact("notes.txt", "plain text")
    trial.artifact("blob.bin", b"\x00\x01")
    trial.note_call({"answer": 4}, 0.25)
    result = trial.result(status="passed")
    assert result["metrics"] == {"score": 0.5}
    assert result["output"] == {"answer": 4} and result["latency_s"] == 0.25
    assert result["logs"][0]["level"] == "info" and result["logs"][0]["meta"] == {"tokens": 3}
    assert result["artifacts"][0] == {"name": "notes.txt", "encoding": "text", "data": "plain text"}
    assert base64.b64decode(result["artifacts"][1]["data"]) == b"\x00\x01"
    assert result["item"]["input"] == 2 and result["status"] == "passed"


def test_record_rejects_undeclared_and_non_numbers() -> None:
    trial, _ = _trial()
    with pytest.raises(crucible.MetricError, match=r"'scroe' is not declared.*\['score'\]"):
        trial.record(scroe=1)
    with pytest.raises(crucible.MetricError, match="'score' = nan is not finite"):
        trial.record(score=float("nan"))
    with pytest.raises(crucible.MetricError, match=r"'score' = \[1\] \(list\)"):
        trial.record(score=[1])
    with pytest.raises(ValueError, match="level 'loud'"):
        trial.log("loud", "x")
    assert trial.missing_metrics() == ["score"]


def test_seed_and_rng_are_per_trial_and_reproducible() -> None:
    first, _ = _trial()
    second, _ = _trial()
    assert first.seed == second.seed
    assert first.rng.random() == second.rng.random()


def test_bound_condition_sync_async_and_errors() -> None:
    loop = LoopThread()
    try:
        trial, exp = _trial()
        sync_call = BoundCondition(exp.conditions["double"], trial, loop, awaited=False)
        assert sync_call(3) == 6

        async def slow_double(v: int) -> int:
            await asyncio.sleep(0)
            return v * 2

        async_condition = crucible.Condition(slow_double, name="slow")
        assert BoundCondition(async_condition, trial, loop, awaited=False)(4) == 8
        awaited = BoundCondition(exp.conditions["double"], trial, loop, awaited=True)
        assert loop.run(awaited(5)) == 10  # a sync condition, awaited from async code

        def broken(v: int) -> int:
            raise KeyError(v)

        failing = BoundCondition(crucible.Condition(broken, name="b"), trial, loop, awaited=False)
        with pytest.raises(KeyError):
            failing(1)
        assert trial.calls == 4 and trial.outputs == [6, 8, 10]
        assert trial.error is not None and trial.error["type"] == "KeyError"
    finally:
        loop.close()


def test_async_trial_function_runs_on_the_loop_and_errors_are_recorded() -> None:
    loop = LoopThread()
    try:
        trial, _ = _trial()

        async def trial_function(trial: Trial) -> None:
            await asyncio.sleep(0)
            trial.record(score=1)

        run_trial_function(trial_function, {"trial": trial}, trial, loop)
        assert trial.metrics == {"score": 1}

        def failing(trial: Trial) -> None:
            raise AssertionError("wrong answer")

        with pytest.raises(AssertionError):
            run_trial_function(failing, {"trial": trial}, trial, loop)
        assert trial.error is not None and trial.error["where"] == "trial function"
    finally:
        loop.close()
