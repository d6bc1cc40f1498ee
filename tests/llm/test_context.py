"""Backends consult the trial's call context: a stored answer skips HTTP, new ones are reported."""

from __future__ import annotations

import asyncio

import pytest

from pytest_crucible.errors import CrucibleError
from pytest_crucible.llm import (
    AnthropicBackend,
    ModelRequest,
    ModelResponse,
    OpenAICompatibleBackend,
    Usage,
)
from pytest_crucible.llm.context import call_context
from pytest_crucible.testing import MockModelServer

from .conftest import FAST


class RecordingContext:
    """A call context that answers from `stored` (when set) and records what it sees."""

    def __init__(self, stored: ModelResponse | None = None, refuse: bool = False) -> None:
        self.stored = stored
        self.refuse = refuse
        self.before: list[tuple[str, ModelRequest]] = []
        self.after: list[tuple[str, ModelRequest, ModelResponse]] = []

    def before_call(self, backend: str, request: ModelRequest) -> ModelResponse | None:
        self.before.append((backend, request))
        if self.refuse:
            raise CrucibleError("budget spent")
        return self.stored

    def after_call(self, backend: str, request: ModelRequest, response: ModelResponse) -> None:
        self.after.append((backend, request, response))


STORED = ModelResponse(
    model="mock-model", content="from the cache", usage=Usage(input_tokens=3), cached=True
)


def test_a_stored_response_skips_http(server: MockModelServer) -> None:
    context = RecordingContext(stored=STORED)
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as backend, call_context(context):
        response = backend.chat("mock-model", "hi")
    assert response is STORED
    assert server.stats()["requests"] == 0
    assert [name for name, _ in context.before] == ["openai-compatible"]
    assert context.after == []  # a stored answer is not accounted again


def test_a_replay_needs_no_api_key(server: MockModelServer) -> None:
    context = RecordingContext(stored=STORED)
    with AnthropicBackend(server.url, retry=FAST) as backend, call_context(context):
        assert backend.chat("mock-model", "hi") is STORED  # ANTHROPIC_API_KEY is unset
    assert server.stats()["requests"] == 0


def test_after_call_receives_the_new_response(server: MockModelServer) -> None:
    context = RecordingContext()
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as backend, call_context(context):
        response = backend.chat("mock-model", "hi", seed=1)
    assert server.stats()["requests"] == 1
    assert len(context.after) == 1
    backend_name, request, reported = context.after[0]
    assert backend_name == "openai-compatible"
    assert reported is response
    assert request == context.before[0][1]
    assert request.seed == 1


def test_a_refusing_context_stops_the_call(server: MockModelServer) -> None:
    context = RecordingContext(refuse=True)
    with (
        OpenAICompatibleBackend(server.base_url, retry=FAST) as backend,
        call_context(context),
        pytest.raises(CrucibleError, match="budget spent"),
    ):
        backend.chat("mock-model", "hi")
    assert server.stats()["requests"] == 0


def test_without_a_context_the_backend_simply_calls(server: MockModelServer) -> None:
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as backend:
        assert backend.chat("mock-model", "hi").content
    assert server.stats()["requests"] == 1


def test_async_calls_use_their_own_tasks_context(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    cached, fresh = RecordingContext(stored=STORED), RecordingContext()
    openai = OpenAICompatibleBackend(server.base_url, retry=FAST)
    anthropic = AnthropicBackend(server.url, retry=FAST)

    async def trial(context: RecordingContext, prompt: str) -> list[ModelResponse]:
        with call_context(context):
            return [await openai.achat("mock-model", prompt), await anthropic.achat("m", prompt)]

    async def both() -> tuple[list[ModelResponse], list[ModelResponse]]:
        async with openai, anthropic:
            first, second = await asyncio.gather(trial(cached, "a"), trial(fresh, "b"))
        return first, second

    from_cache, from_model = asyncio.run(both())
    assert from_cache == [STORED, STORED]
    assert cached.after == []
    assert [name for name, _, _ in fresh.after] == ["openai-compatible", "anthropic"]
    assert [response for _, _, response in fresh.after] == from_model
    assert server.stats()["requests"] == 2
