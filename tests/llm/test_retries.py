"""Retries over real HTTP: what is retried, how long it waits, and what the errors say."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from pytest_crucible.errors import ConfigError, CrucibleError
from pytest_crucible.llm import (
    AnthropicBackend,
    ModelAuthError,
    ModelCallError,
    ModelRequestError,
    ModelResponseError,
    ModelUnavailableError,
    OpenAICompatibleBackend,
    RetryPolicy,
    achat,
    chat,
)
from pytest_crucible.llm.retry import parse_retry_after
from pytest_crucible.testing import Fault, MockModelServer

from .conftest import FAST


def _backend(server: MockModelServer, **options: object) -> OpenAICompatibleBackend:
    options.setdefault("retry", FAST)
    return OpenAICompatibleBackend(server.base_url, **options)  # type: ignore[arg-type]


def _recording_policy(delays: list[float], **options: object) -> RetryPolicy:
    return RetryPolicy(
        initial_delay=0.01,
        max_delay=0.05,
        sleep=delays.append,
        **options,  # type: ignore[arg-type]
    )


def test_429_waits_for_retry_after_then_succeeds(server: MockModelServer) -> None:
    server.set_faults([Fault(status=429, retry_after=1.0, times=1)])
    with _backend(server) as backend:
        began = time.monotonic()
        response = backend.chat("mock-model", "hi")
        waited = time.monotonic() - began
    assert response.attempts == 2
    assert waited >= 0.95  # Retry-After: 1, although the policy's max_delay is 0.05 s
    assert server.stats()["by_status"] == {"429": 1, "200": 1}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ModelRequestError),
        (401, ModelAuthError),
        (403, ModelAuthError),
        (404, ModelRequestError),
        (422, ModelRequestError),
    ],
)
def test_permanent_statuses_are_not_retried(
    server: MockModelServer, status: int, kind: type[ModelCallError]
) -> None:
    server.set_faults([Fault(status=status, times=None)])
    with _backend(server) as backend, pytest.raises(kind) as raised:
        backend.chat("mock-model", "hi")
    assert server.stats()["requests"] == 1
    error = raised.value
    assert isinstance(error, CrucibleError)
    assert (error.status, error.attempts) == (status, 1)
    assert (error.backend, error.model, error.url) == (
        "openai-compatible",
        "mock-model",
        server.base_url + "/chat/completions",
    )
    assert f"HTTP status {status}" in str(error)
    assert "What to do:" in str(error)


def test_401_says_which_variable_to_set(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.set_faults([Fault(status=401, times=None)])
    with _backend(server) as backend, pytest.raises(ModelAuthError) as unset:
        backend.chat("mock-model", "hi")
    assert "OPENAI_API_KEY is not set: set it" in str(unset.value)
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with _backend(server) as backend, pytest.raises(ModelAuthError) as rejected:
        backend.chat("mock-model", "hi")
    assert "the key in OPENAI_API_KEY was rejected: set OPENAI_API_KEY" in str(rejected.value)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "wrong")
    with (
        AnthropicBackend(server.url, retry=FAST) as anthropic,
        pytest.raises(ModelAuthError) as refused,
    ):
        anthropic.chat("mock-model", "hi")
    assert "set ANTHROPIC_API_KEY to your Anthropic API key" in str(refused.value)


def test_404_names_the_model_and_the_url(server: MockModelServer) -> None:
    server.set_faults([Fault(status=404, message="The model 'gtp-4' does not exist")])
    with _backend(server) as backend, pytest.raises(ModelRequestError) as raised:
        backend.chat("gtp-4", "hi")
    message = str(raised.value)
    assert "The model 'gtp-4' does not exist" in message
    assert "check the model name 'gtp-4'" in message
    assert server.base_url + "/chat/completions" in message


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(server: MockModelServer, status: int) -> None:
    server.set_faults([Fault(status=status, times=2)])
    with _backend(server) as backend:
        response = backend.chat("mock-model", "hi")
    assert response.attempts == 3
    assert server.stats()["by_status"] == {str(status): 2, "200": 1}


def test_exhausted_retries_say_what_happened(server: MockModelServer) -> None:
    server.set_faults([Fault(status=503, times=None)])
    backend = _backend(
        server, retry=RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
    )
    with backend, pytest.raises(ModelUnavailableError) as raised:
        backend.chat("mock-model", "hi")
    error = raised.value
    assert server.stats()["requests"] == 3
    assert (error.status, error.attempts) == (503, 3)
    assert [attempt.number for attempt in error.history] == [1, 2, 3]
    assert all(attempt.status == 503 for attempt in error.history)
    delays = [attempt.delay_s for attempt in error.history]
    assert delays[-1] is None
    assert all(d is not None and 0.005 <= d <= 0.02 for d in delays[:-1])
    message = str(error)
    for part in (
        "openai-compatible call to model 'mock-model'",
        f"POST {server.base_url}/chat/completions",
        "failed after 3 attempts, last HTTP status 503",
        "Service Unavailable",
        "#1: HTTP 503",
        "then waited",
        "#3: HTTP 503",
        "What to do: the server keeps failing",
        "RetryPolicy(max_attempts=...)",
    ):
        assert part in message


def test_only_the_last_attempts_are_quoted(server: MockModelServer) -> None:
    server.set_faults([Fault(status=500, times=None)])
    policy = RetryPolicy(max_attempts=8, initial_delay=0.001, max_delay=0.002)
    with _backend(server, retry=policy) as backend, pytest.raises(ModelUnavailableError) as raised:
        backend.chat("mock-model", "hi")
    assert len(raised.value.history) == 8
    assert "Attempts (last 5 of 8): #4:" in str(raised.value)


def test_exhausted_rate_limit_says_to_slow_down(server: MockModelServer) -> None:
    server.set_faults([Fault(status=429, times=None)])
    policy = RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.01)
    with _backend(server, retry=policy) as backend, pytest.raises(ModelUnavailableError) as raised:
        backend.chat("mock-model", "hi")
    assert "rate limiting: lower the concurrency" in str(raised.value)


def test_read_timeout_is_retried_then_succeeds(server: MockModelServer) -> None:
    # the first request is held 30 s; the retry must be answered within the 1 s timeout
    server.set_faults([Fault(kind="timeout", delay=30.0, times=1)])
    with _backend(server, timeout=1.0) as backend:
        began = time.monotonic()
        response = backend.chat("mock-model", "hi")
    assert response.attempts == 2
    assert time.monotonic() - began < 10  # the held request was abandoned, not awaited


def test_timeouts_that_persist_say_to_raise_the_timeout(server: MockModelServer) -> None:
    server.set_faults([Fault(kind="timeout", delay=1.0, times=None)])
    policy = RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.01)
    backend = _backend(server, timeout=0.2, retry=policy)
    with backend, pytest.raises(ModelUnavailableError) as raised:
        backend.chat("mock-model", "hi")
    message = str(raised.value)
    assert raised.value.status is None
    assert "read timeout: no answer within 0.2 s" in message
    assert "raise timeout=" in message


def test_malformed_json_is_a_clear_permanent_error(server: MockModelServer) -> None:
    server.set_faults([Fault(kind="malformed", times=None)])
    with _backend(server) as backend, pytest.raises(ModelResponseError) as raised:
        backend.chat("mock-model", "hi")
    assert server.stats()["requests"] == 1
    message = str(raised.value)
    assert "with a body that is not a JSON object: '{" in message  # quotes the body's start
    assert "retrying will not help" in message


def test_a_dropped_connection_is_retried(server: MockModelServer) -> None:
    server.set_faults([Fault(kind="disconnect", times=1)])
    with _backend(server) as backend:
        assert backend.chat("mock-model", "hi").attempts == 2
    assert server.stats()["dropped"] == 1


def test_a_refused_connection_says_to_check_the_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    policy = RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.01)
    backend = OpenAICompatibleBackend(f"http://127.0.0.1:{port}/v1", retry=policy)
    with backend, pytest.raises(ModelUnavailableError) as raised:
        backend.chat("m", "hi")
    assert "connection error: ConnectError" in str(raised.value)
    assert "check that the server is running" in str(raised.value)


def test_a_long_retry_after_is_honoured_beyond_max_delay(server: MockModelServer) -> None:
    delays: list[float] = []
    server.set_faults([Fault(status=503, retry_after=90, times=1)])
    with _backend(server, retry=_recording_policy(delays)) as backend:
        assert backend.chat("mock-model", "hi").attempts == 2
    assert delays == [90.0]  # injected sleep: the test did not wait


def test_a_retry_after_beyond_the_cap_gives_up_at_once(server: MockModelServer) -> None:
    delays: list[float] = []
    server.set_faults([Fault(status=429, retry_after=600, times=None)])
    with (
        _backend(server, retry=_recording_policy(delays)) as backend,
        pytest.raises(ModelUnavailableError) as raised,
    ):
        backend.chat("mock-model", "hi")
    assert delays == []
    assert server.stats()["requests"] == 1
    message = str(raised.value)
    assert "asked to wait 600 s" in message
    assert "retry_after_cap=120" in message


def test_async_calls_retry_the_same_way(server: MockModelServer) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(initial_delay=0.01, max_delay=0.05, async_sleep=fake_sleep)
    backend = _backend(server, timeout=1.0, retry=policy)  # an ordinary answer comes in time

    async def scenario() -> list[int]:
        attempts = []
        async with backend:
            server.set_faults([Fault(status=429, retry_after=7, times=1)])
            attempts.append((await backend.achat("mock-model", "a")).attempts)
            server.set_faults(
                [Fault(kind="timeout", delay=5.0, times=1), Fault(kind="disconnect", times=1)]
            )
            attempts.append((await backend.achat("mock-model", "b")).attempts)
            server.set_faults([Fault(status=400)])
            with pytest.raises(ModelRequestError):
                await backend.achat("mock-model", "c")
            server.set_faults([Fault(kind="malformed")])
            with pytest.raises(ModelResponseError):
                await backend.achat("mock-model", "d")
        return attempts

    assert asyncio.run(scenario()) == [2, 3]
    assert slept[0] == 7.0
    assert len(slept) == 3


def test_anthropic_overloaded_is_retried(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    server.set_faults([Fault(status=529, times=1)])
    with AnthropicBackend(server.url, retry=FAST) as backend:
        assert backend.chat("m", "hi").attempts == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "x", "retry-after": "9"}, 9.0),
    ],
)
def test_retry_after_in_seconds(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": later}, now=now.timestamp()) == 30.0
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": earlier}, now=now.timestamp()) == 0.0


def test_backoff_grows_with_jitter_up_to_max_delay() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=30.0)
    for attempt, nominal in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (9, 30.0)]:
        delays = [policy.backoff(attempt) for _ in range(50)]
        assert all(nominal / 2 <= d <= nominal for d in delays)
        assert len(set(delays)) > 1  # jittered
    exact = RetryPolicy(initial_delay=1.0, max_delay=30.0, jitter=False)
    assert [exact.backoff(n) for n in (1, 2, 3, 6)] == [1.0, 2.0, 4.0, 30.0]


def test_jitter_leaves_the_global_random_generator_alone() -> None:
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    RetryPolicy().backoff(3)
    assert random.random() == expected


@pytest.mark.parametrize(
    "options",
    [{"max_attempts": 0}, {"initial_delay": -1.0}, {"max_delay": 0.5}, {"retry_after_cap": -1}],
)
def test_invalid_policies_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="RetryPolicy"):
        RetryPolicy(**options)  # type: ignore[arg-type]


def test_a_timeout_names_the_timeout_of_the_client_that_was_used(server: MockModelServer) -> None:
    """A client given by the caller keeps its own timeout, and the error quotes that one
    (it said "no answer within 60 s", the chat helper's default, for a 0.2 s client)."""
    server.set_faults([Fault(kind="timeout", delay=5.0, times=None)])
    messages = [{"role": "user", "content": "hi"}]
    once = RetryPolicy.none()
    with httpx.Client(timeout=0.2) as own, pytest.raises(ModelUnavailableError) as raised:
        chat(server.base_url, "mock-model", messages, client=own, retry=once)
    assert "read timeout: no answer within 0.2 s" in str(raised.value)

    async def ask() -> str:
        async with httpx.AsyncClient(timeout=0.3) as own:
            return await achat(server.base_url, "mock-model", messages, client=own, retry=once)

    with pytest.raises(ModelUnavailableError) as raised:
        asyncio.run(ask())
    assert "read timeout: no answer within 0.3 s" in str(raised.value)
