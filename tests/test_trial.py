"""The trial handle and the condition wrapper, without pytest in between."""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
from pathlib import Path

import pytest

import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend
from pytest_crucible.run.bound_condition import BoundCondition
from pytest_crucible.run.calls import CachePolicy, CallCache, TrialCalls
from pytest_crucible.run.loop_thread import LoopThread
from pytest_crucible.run.runner import run_trial_function
from pytest_crucible.run.trial import Trial
from pytest_crucible.store.sqlite import Store
from pytest_crucible.testing import MockModelServer


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
    result = trial.to_record(status="passed")
    assert result.metrics == {"score": 0.5}
    assert result.output == {"answer": 4} and result.latency_s == 0.25
    assert result.logs[0]["level"] == "info" and result.logs[0]["meta"] == {"tokens": 3}
    assert result.artifacts[0] == {"name": "notes.txt", "encoding": "text", "data": "plain text"}
    assert base64.b64decode(result.artifacts[1]["data"]) == b"\x00\x01"
    assert result.item is not None
    assert result.item["input"] == 2 and result.status == "passed"


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


def test_progress_keeps_the_last_report_and_refuses_what_is_not_a_count() -> None:
    trial, _ = _trial()
    assert trial.progress_state is None
    trial.progress(1, 4)
    trial.progress(2.5, 4, message="half way")
    assert trial.progress_state == (2.5, 4, "half way")
    for current, total in (("1", 4), (1, None), (True, 4), (float("nan"), 4)):
        with pytest.raises(TypeError, match=r"trial.progress\(.*must be a number"):
            trial.progress(current, total)  # type: ignore[arg-type]
    for current, total in ((1, 0), (-1, 4)):
        with pytest.raises(ValueError, match=r"give 0 <= current and total > 0"):
            trial.progress(current, total)
    assert trial.progress_state == (2.5, 4, "half way")


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


def test_answers_from_the_recording_count_their_recorded_duration(tmp_path: Path) -> None:
    """Sync and async conditions called from a sync trial function: a replayed call adds the
    duration it was recorded with to trial.latency_s, not the moment its lookup took."""
    store_path = tmp_path / "crucible.db"
    Store(store_path).close()
    with (
        MockModelServer(latency=0.3) as server,
        OpenAICompatibleBackend(server.base_url, api_key_env=None) as backend,
    ):

        def ask(question: str) -> str:
            return backend.chat("mock-model", question).content

        async def aask(question: str) -> str:
            return (await backend.achat("mock-model", question)).content

        exp = crucible.Experiment(
            "t", dataset=[{"id": "x", "input": 2}], conditions={"ask": ask, "aask": aask}
        )
        plan = exp.plan()
        loop = LoopThread()

        def run(mode: str) -> tuple[Trial, TrialCalls]:
            trial = Trial(plan.trials[0], plan)
            cache = CallCache(store_path) if mode == "replay" else None
            calls = TrialCalls(CachePolicy(mode, cache), experiment="t", condition="ask", repeat=0)  # type: ignore[arg-type]
            trial.call_context = calls

            def trial_function() -> None:
                BoundCondition(exp.conditions["ask"], trial, loop, awaited=False)("one")
                BoundCondition(exp.conditions["aask"], trial, loop, awaited=False)("two")

            try:
                run_trial_function(trial_function, {}, trial, loop)
            finally:
                if cache is not None:
                    cache.close()
            return trial, calls

        try:
            recording, recorded = run("write")
            with sqlite3.connect(store_path) as conn:
                conn.executemany(
                    "INSERT INTO model_calls VALUES (?, ?, ?, ?, ?, 'r', 'k', 'now')",
                    [
                        (c["cache_key"], c["backend"], c["model"], json.dumps(c["request"]),
                         json.dumps(c["response"]))
                        for c in recorded.recorded
                    ],
                )  # fmt: skip
            requests = server.stats()["requests"]
            replay, replayed = run("replay")
        finally:
            loop.close()
    assert server.stats()["requests"] == requests == 2
    assert replayed.cache_hits == 2
    durations = sum(c["response"]["duration_s"] for c in recorded.recorded)
    assert recording.latency_s >= durations >= 0.6
    assert durations <= replay.latency_s < durations + 5.0


def test_results_keep_json_values_and_refuse_others_by_name() -> None:
    trial, _ = _trial()
    trial.result("answer", {"text": "A", "ids": [1, 2]})
    trial.result("answer", {"text": "B"})  # a key set again is replaced
    trial.result("note", "plain")
    assert trial.to_record(status="passed").results == {"answer": {"text": "B"}, "note": "plain"}
    with pytest.raises(crucible.TrialUsageError, match=r"trial.result\('bad', \.\.\.\) takes JSON"):
        trial.result("bad", {1, 2})
    with pytest.raises(TypeError, match="non-empty string"):
        trial.result("", 1)
    assert _trial()[0].to_record(status="passed").results is None  # none kept: no column value


def test_log_batch_takes_tuples_and_dicts_and_checks_them_all_first() -> None:
    trial, _ = _trial()
    trial.log_batch([("info", "a"), ("debug", "b", {"n": 1}), {"level": "ERROR", "message": "c"}])
    assert [(e["level"], e["message"], e["meta"]) for e in trial.logs] == [
        ("info", "a", {}),
        ("debug", "b", {"n": 1}),
        ("error", "c", {}),
    ]
    for bad, message in [
        ([("info", "ok"), ("info",)], "entry 1: expected a dict"),
        ([{"level": "info"}], "entry 0: a dict entry has keys level, message"),
        ([("info", "x", ["not", "a", "dict"])], "entry 0: meta must be a dict"),
        ("info", "takes a list of entries"),
    ]:
        with pytest.raises(crucible.TrialUsageError, match=message):
            trial.log_batch(bad)  # type: ignore[arg-type]
    assert len(trial.logs) == 3  # a bad batch keeps nothing


def test_cancelled_asks_the_session_once_a_reason_is_known() -> None:
    trial, _ = _trial()
    assert trial.cancelled is False  # no session: nothing asks it to stop
    reasons = iter([None, "budget: spent"])
    trial.stop_check = lambda: next(reasons)
    assert trial.cancelled is False
    assert trial.cancelled is True and trial.cancel_reason == "budget: spent"
    timed_out, _ = _trial()
    timed_out.cancel("timeout: 2 s passed")
    assert timed_out.cancelled and timed_out.cancel_reason == "timeout: 2 s passed"
