"""Both backends over real HTTP against the mock server: request wire format, response shape."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pytest_crucible.llm import (
    AnthropicBackend,
    Backend,
    ChatMessage,
    ModelRequest,
    OpenAICompatibleBackend,
    ToolCall,
    ToolSpec,
)
from pytest_crucible.testing import MockModelServer

from .conftest import FAST

WEATHER = ToolSpec(
    name="get_weather",
    description="The forecast for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
EARLIER_CALL = ToolCall(id="call_1", name="get_weather", arguments={"city": "Oslo"})
CONVERSATION = (
    ChatMessage(role="system", content="You are terse."),
    ChatMessage(role="user", content="Weather in Oslo?"),
    ChatMessage(role="assistant", content="", tool_calls=(EARLIER_CALL,)),
    ChatMessage(role="tool", content="rain", tool_call_id="call_1"),
    ChatMessage(role="user", content="And tomorrow?"),
)


def _sent(server: MockModelServer) -> dict[str, Any]:
    """The JSON body of the last request the server received."""
    body: dict[str, Any] = server.request_log()[-1]["json"]
    return body


def _headers(server: MockModelServer) -> dict[str, str]:
    return {k.lower(): v for k, v in server.request_log()[-1]["headers"].items()}


def test_backends_implement_the_protocol() -> None:
    assert isinstance(OpenAICompatibleBackend(), Backend)
    assert isinstance(AnthropicBackend(), Backend)


def test_openai_response_shape(server: MockModelServer) -> None:
    server.set_latency(0.05)
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as backend:
        response = backend.chat("mock-model", "What is two plus two?", seed=3, max_tokens=40)
    assert response.content.startswith("Mock answer to: What is two plus two?")
    assert response.finish_reason == "stop"
    assert response.model == "mock-model"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert 0.05 <= response.latency_s < 30
    assert response.attempts == 1
    assert response.cached is False
    assert response.raw["object"] == "chat.completion"
    assert response.raw["choices"][0]["message"]["content"] == response.content
    json.dumps(response.model_dump(mode="json"))  # storable as it is


def test_openai_request_body(server: MockModelServer) -> None:
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as backend:
        backend.chat("mock-model", "hi", seed=3, top_p=0.5, stop=["\n"], extra={"user": "u1"})
        assert _sent(server) == {
            "model": "mock-model",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 256,
            "temperature": 0.0,
            "stream": False,
            "top_p": 0.5,
            "seed": 3,
            "stop": ["\n"],
            "user": "u1",
        }
        backend.chat("mock-model", "hi")
        assert "seed" not in _sent(server)  # seed=None: no seed sent
        assert "top_p" not in _sent(server)
    assert "authorization" not in _headers(server)  # OPENAI_API_KEY unset: no key, still works


def test_openai_sends_the_key_from_the_environment(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_SERVER_KEY", "k-123")
    with OpenAICompatibleBackend(server.base_url, api_key_env="LOCAL_SERVER_KEY") as backend:
        backend.chat("mock-model", "hi")
    assert _headers(server)["authorization"] == "Bearer k-123"


def test_openai_messages_and_tools_on_the_wire(server: MockModelServer) -> None:
    request = ModelRequest(model="mock-model", messages=CONVERSATION, tools=(WEATHER,))
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as backend:
        backend.generate(request)
    body = _sent(server)
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "content": "rain", "tool_call_id": "call_1"},
        {"role": "user", "content": "And tomorrow?"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The forecast for a city",
                "parameters": WEATHER.parameters,
            },
        }
    ]


def test_openai_tool_calls_are_parsed(server: MockModelServer) -> None:
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as backend:
        response = backend.chat("mock-model", "USE_TOOL please", tools=[WEATHER])
    assert response.finish_reason == "tool_calls"
    assert len(response.tool_calls) == 1
    call = response.tool_calls[0]
    assert call.name == "get_weather"
    assert call.arguments == {"city": "Paris", "days": 2}
    assert call.id.startswith("call_")


def test_anthropic_response_shape_and_headers(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    with AnthropicBackend(server.url, retry=FAST) as backend:
        response = backend.chat("mock-model", "Name a colour.", system="Be brief.", seed=5)
    assert response.content.startswith("Mock answer to: Name a colour.")
    assert response.finish_reason == "stop"  # end_turn
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.latency_s > 0
    assert response.attempts == 1
    assert response.raw["type"] == "message"
    headers = _headers(server)
    assert headers["x-api-key"] == "ak-test"
    assert headers["anthropic-version"] == "2023-06-01"
    body = _sent(server)
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "Name a colour."}]
    assert "seed" not in body  # the Messages API has no seed


def test_anthropic_accepts_a_base_url_with_v1(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    assert AnthropicBackend(server.base_url).url == server.url + "/v1/messages"
    assert AnthropicBackend(server.url).url == server.url + "/v1/messages"
    with AnthropicBackend(server.base_url, retry=FAST) as backend:
        assert backend.chat("mock-model", "hi").content


def test_anthropic_messages_and_tools_on_the_wire(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    second = ChatMessage(role="tool", content="cold", tool_call_id="call_2")
    messages = (*CONVERSATION[:4], second, CONVERSATION[4])
    request = ModelRequest(
        model="mock-model", messages=messages, tools=(WEATHER,), stop=("END",), top_p=0.9
    )
    with AnthropicBackend(server.url, retry=FAST) as backend:
        backend.generate(request)
    body = _sent(server)
    assert body["system"] == "You are terse."
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "call_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "rain"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "cold"},
            ],
        },
        {"role": "user", "content": "And tomorrow?"},
    ]
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "The forecast for a city",
            "input_schema": WEATHER.parameters,
        }
    ]
    assert body["stop_sequences"] == ["END"]
    assert body["top_p"] == 0.9


def test_anthropic_tool_use_becomes_tool_calls(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    with AnthropicBackend(server.url, retry=FAST) as backend:
        response = backend.chat("mock-model", "USE_TOOL now", tools=[WEATHER])
    assert response.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("get_weather", {"city": "Paris", "days": 2})
    ]
    assert response.tool_calls[0].id.startswith("toolu_")


def test_truncated_answers_finish_with_length(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    prompt = "one two three four five six seven"
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as openai:
        assert openai.chat("mock-model", prompt, max_tokens=2).finish_reason == "length"
    with AnthropicBackend(server.url, retry=FAST) as anthropic:
        assert anthropic.chat("mock-model", prompt, max_tokens=2).finish_reason == "length"


def test_async_calls_match_sync_calls(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    openai = OpenAICompatibleBackend(server.base_url, retry=FAST)
    anthropic = AnthropicBackend(server.url, retry=FAST)

    async def both() -> list[str]:
        async with openai, anthropic:
            answers = [await openai.achat("mock-model", "same"), await anthropic.achat("m", "x")]
            tool = await openai.achat("mock-model", "USE_TOOL", tools=[WEATHER])
        assert tool.tool_calls[0].arguments == {"city": "Paris", "days": 2}
        return [answer.content for answer in answers]

    contents = asyncio.run(both())
    with openai, anthropic:
        assert contents == [
            openai.chat("mock-model", "same").content,
            anthropic.chat("m", "x").content,
        ]
