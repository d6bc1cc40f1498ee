"""run_with_retries / run_with_retries_async: driving a callable with the policy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from loopback_http import serving
from pytest_crucible.run.recovery import (
    ErrorEntry,
    ErrorHandling,
    run_with_retries,
    run_with_retries_async,
)

POLICY = ErrorHandling(jitter="none", initial_delay=0.5, factor=2.0, max_retries=3)


class Flaky:
    """Raises the given exceptions in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_sync_success_after_retries_sleeps_the_decided_delays() -> None:
    slept: list[float] = []
    retried: list[ErrorEntry] = []
    fn = Flaky(TimeoutError(), ConnectionResetError())
    outcome = run_with_retries(fn, POLICY, sleep=slept.append, on_retry=retried.append)
    assert outcome.ok and outcome.unwrap() == "ok"
    assert slept == [0.5, 1.0]
    assert [entry.type for entry in retried] == ["TimeoutError", "ConnectionResetError"]
    assert outcome.record.attempts == 3 and fn.calls == 3
    assert outcome.record.final_status == "success"


def test_sync_permanent_error_is_returned_not_raised() -> None:
    slept: list[float] = []
    error = ValueError("bad prompt")
    outcome = run_with_retries(Flaky(error), POLICY, sleep=slept.append)
    assert not outcome.ok and outcome.error is error and outcome.value is None
    assert slept == []
    assert outcome.record.final_status == "failed_permanent"
    with pytest.raises(ValueError, match="bad prompt"):
        outcome.unwrap()


def test_sync_retries_exhausted() -> None:
    slept: list[float] = []
    fn = Flaky(*(TimeoutError(f"t{i}") for i in range(10)))
    outcome = run_with_retries(fn, POLICY, sleep=slept.append)
    assert fn.calls == 4
    assert slept == [0.5, 1.0, 2.0]
    assert str(outcome.error) == "t3"
    assert outcome.record.final_status == "failed_retries_exhausted"


@pytest.mark.parametrize("fatal", [KeyboardInterrupt(), SystemExit(3)])
def test_sync_fatal_exceptions_propagate_at_once(fatal: BaseException) -> None:
    fn = Flaky(fatal)
    with pytest.raises(type(fatal)):
        run_with_retries(fn, ErrorHandling(classify=lambda e: "retry"), sleep=lambda s: None)
    assert fn.calls == 1


def test_async_success_after_retries() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    fn = Flaky(TimeoutError(), TimeoutError())

    async def call() -> str:
        await asyncio.sleep(0)
        return fn()

    outcome = asyncio.run(run_with_retries_async(call, POLICY, sleep=fake_sleep))
    assert outcome.unwrap() == "ok"
    assert slept == [0.5, 1.0]
    assert outcome.record.to_dict()["retry_delays"] == [0.5, 1.0]


def test_async_cancellation_propagates_and_is_not_retried() -> None:
    calls = 0

    async def call() -> str:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    async def fake_sleep(seconds: float) -> None:
        raise AssertionError("must not sleep")

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(run_with_retries_async(call, ErrorHandling(), sleep=fake_sleep))
    assert calls == 1


def test_async_cancelled_while_sleeping() -> None:
    async def main() -> None:
        async def call() -> str:
            raise TimeoutError

        task = asyncio.create_task(
            run_with_retries_async(call, ErrorHandling(initial_delay=30.0, jitter="none"))
        )
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


class _Handler(BaseHTTPRequestHandler):
    """503 with Retry-After for the first two requests, then 200."""

    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        if type(self).hits <= 2:
            self.send_response(503)
            self.send_header("Retry-After", "2")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"answer": "Paris"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def flaky_server() -> Iterator[str]:
    _Handler.hits = 0
    with serving(_Handler) as address:
        yield f"{address}/"


def test_against_a_loopback_server_that_answers_503_with_retry_after(flaky_server: str) -> None:
    slept: list[float] = []

    with httpx.Client() as client:

        def call() -> object:
            response = client.get(flaky_server)
            response.raise_for_status()
            return response.json()

        outcome = run_with_retries(call, POLICY, sleep=slept.append)
    assert outcome.unwrap() == {"answer": "Paris"}
    assert slept == [2.0, 2.0]  # the server's hint beats 0.5 and 1.0
    assert [e.type for e in outcome.record.error_history] == ["HTTPStatusError"] * 2
