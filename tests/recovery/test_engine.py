"""One retry engine: condition retries and model-call retries both run through
`util/retrying.py`, under the one policy type (`ErrorHandling`), and nothing else retries."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

import pytest_crucible as crucible
from pytest_crucible.declare.policies import ErrorHandling
from pytest_crucible.llm import OpenAICompatibleBackend, RetryPolicy
from pytest_crucible.llm.retry import RetryableFailure
from pytest_crucible.run.bound_condition import BoundCondition
from pytest_crucible.run.loop_thread import LoopThread
from pytest_crucible.run.trial import Trial
from pytest_crucible.testing import Fault, MockModelServer
from pytest_crucible.util import retrying
from pytest_crucible.util.retrying import aretry_call, retry_call

SRC = Path(crucible.__file__).parent

# 0.5 s doubling, no jitter; the second failure carries a Retry-After of 3 s
POLICY = RetryPolicy(max_attempts=4, initial_delay=0.5, max_delay=60.0, jitter=False)
SCHEDULE = [0.5, 3.0, 2.0]


def _imports_tenacity(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "tenacity" for a in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tenacity":
            return True
    return False


def test_tenacity_is_imported_by_the_retry_engine_alone() -> None:
    importers = sorted(
        path.relative_to(SRC).as_posix() for path in SRC.rglob("*.py") if _imports_tenacity(path)
    )
    assert importers == ["util/retrying.py"]


def test_a_model_call_policy_is_an_error_handling() -> None:
    handling = POLICY.handling
    assert isinstance(handling, ErrorHandling)
    assert (handling.max_retries, handling.initial_delay, handling.jitter) == (3, 0.5, "none")
    assert [POLICY.backoff(n) for n in (1, 2, 3)] == [handling.delay(n) for n in (1, 2, 3)]


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits of every retry that goes through the engine with its default sleep."""
    waits: list[float] = []
    monkeypatch.setattr(retrying, "time", SimpleNamespace(sleep=waits.append))
    return waits


def _model_call_waits(slept: list[float]) -> list[float]:
    faults = [Fault(status=503), Fault(status=429, retry_after=3.0), Fault(status=503)]
    with (
        MockModelServer(faults=faults) as server,
        OpenAICompatibleBackend(server.base_url, retry=POLICY) as backend,
    ):
        assert backend.chat("mock-model", "hi").attempts == 4
    waits = list(slept)
    slept.clear()
    return waits


def _condition_waits(slept: list[float]) -> tuple[list[float], tuple[float, ...]]:
    failures = [
        RetryableFailure("HTTP 503", status=503),
        RetryableFailure("HTTP 429", status=429, retry_after=3.0),
        RetryableFailure("HTTP 503", status=503),
    ]

    def flaky(value: int) -> int:
        if failures:
            raise failures.pop(0)
        return value

    experiment = crucible.Experiment(
        "one-engine",
        dataset=[{"id": "a", "input": 1}],
        conditions={"flaky": flaky},
        error_handling=POLICY.handling,
    )
    plan = experiment.plan()
    trial = Trial(plan.trials[0], plan)
    loop = LoopThread()
    try:
        assert BoundCondition(experiment.conditions["flaky"], trial, loop, awaited=False)(7) == 7
    finally:
        loop.close()
    record = trial.recovery.record()
    assert record is not None
    return list(slept), record.retry_delays


def test_condition_and_model_call_retries_wait_one_schedule(slept: list[float]) -> None:
    """The same policy, the same failures (one with a Retry-After): the same waits, slept by
    the one engine in both cases (its sleep is the one patched here)."""
    model_call = _model_call_waits(slept)
    condition, recorded = _condition_waits(slept)
    assert model_call == condition == SCHEDULE
    assert list(recorded) == SCHEDULE


def test_sync_and_async_calls_make_the_same_decisions() -> None:
    def decide(exc: BaseException) -> float | None:
        return 0.25 if isinstance(exc, TimeoutError) else None

    def run_sync() -> tuple[list[float], int]:
        calls, waits = [0], []

        def fn() -> int:
            calls[0] += 1
            if calls[0] < 3:
                raise TimeoutError
            return calls[0]

        return waits, retry_call(fn, decide, sleep=waits.append)

    async def run_async() -> tuple[list[float], int]:
        calls, waits = [0], []

        async def fn() -> int:
            calls[0] += 1
            if calls[0] < 3:
                raise TimeoutError
            return calls[0]

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        return waits, await aretry_call(fn, decide, sleep=sleep)

    assert run_sync() == asyncio.run(run_async()) == ([0.25, 0.25], 3)


def test_an_error_that_stands_keeps_its_traceback_and_the_first_try_is_direct() -> None:
    def fail() -> None:
        raise ValueError("bad prompt")

    with pytest.raises(ValueError, match="bad prompt") as raised:
        retry_call(fail, lambda exc: None, sleep=lambda seconds: pytest.fail("slept"))
    assert raised.traceback[-1].name == "fail"
    assert retry_call(lambda: "ok", lambda exc: pytest.fail("decided")) == "ok"
