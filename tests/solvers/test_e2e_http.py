"""A chain with a tool loop over real HTTP: OpenAICompatibleBackend against MockModelServer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pytest_crucible.declare.conditions import Condition
from pytest_crucible.llm.openai_compat import OpenAICompatibleBackend
from pytest_crucible.llm.solvers import (
    Chain,
    TaskState,
    as_condition,
    generate,
    system_message,
    use_tools,
)
from pytest_crucible.testing import MockModelServer


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def divide(a: float, b: float) -> float:
    """Divide a by b."""
    return a / b


def test_a_tool_loop_runs_over_http_through_a_condition() -> None:
    received: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> str | dict[str, Any]:
        received.append(request)
        last = request["messages"][-1]
        if last["role"] != "tool":  # first turn: ask for two tools at once
            return {
                "tool_calls": [
                    {"name": "add", "arguments": {"a": 19, "b": 23}},
                    {"name": "divide", "arguments": {"a": 1, "b": 0}},
                ]
            }
        results = [m["content"] for m in request["messages"] if m["role"] == "tool"]
        return f"Tool results: {' | '.join(results)}"

    chain = Chain(system_message("Use the tools."), use_tools(add, divide), generate(), name="calc")

    async def run(base_url: str) -> TaskState:
        async with OpenAICompatibleBackend(base_url=base_url, api_key_env=None) as backend:
            condition = Condition(
                as_condition(chain, backend, "mock-model", return_state=True), name="calc"
            )
            assert condition.is_async
            state: TaskState = await condition("What is 19 + 23, and 1 / 0?", seed=5)
            return state

    with MockModelServer(answer=answer) as server:
        state = asyncio.run(run(server.base_url))

    assert state.error is None and state.model_calls == 2
    assert state.completion == (
        "Tool results: 42 | Error: tool 'divide' raised ZeroDivisionError: division by zero"
    )
    assert state.usage.total_tokens > 0
    first, second = received
    assert [t["function"]["name"] for t in first["tools"]] == ["add", "divide"]
    assert first["tools"][0]["function"]["parameters"]["properties"] == {
        "a": {"type": "integer"},
        "b": {"type": "integer"},
    }
    assert (first["model"], first["seed"]) == ("mock-model", 5)
    roles = [m["role"] for m in second["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool"]
    asked = second["messages"][2]["tool_calls"]
    answered = [m["tool_call_id"] for m in second["messages"][3:]]
    assert [c["id"] for c in asked] == answered
    assert json.loads(asked[0]["function"]["arguments"]) == {"a": 19, "b": 23}


def test_run_sync_over_http_for_scripts() -> None:
    def answer(request: dict[str, Any]) -> str | dict[str, Any]:
        if request["messages"][-1]["role"] == "tool":
            return "The sum is " + request["messages"][-1]["content"]
        return {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}

    chain = Chain(use_tools(add), generate(temperature=0.0))
    with (
        MockModelServer(answer=answer) as server,
        OpenAICompatibleBackend(base_url=server.base_url, api_key_env=None) as backend,
    ):
        first = chain.run_sync("2 + 3?", backend, "mock-model")
        second = chain.run_sync("2 + 3 again?", backend, "mock-model")
    assert first.completion == second.completion == "The sum is 5"
    assert [m.role for m in first.messages] == ["user", "assistant", "tool", "assistant"]
