from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import pytest

from pytest_crucible.llm.solvers import (
    Chain,
    ChainError,
    Generate,
    LimitExceeded,
    Limits,
    TaskState,
    Tool,
    ToolError,
    generate,
    tool,
    use_tools,
)
from pytest_crucible.llm.types import ChatMessage, ToolSpec

from .scripted import ScriptedBackend, calls


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number,
            which may be negative.
    """
    return a + b


def fail(reason: str) -> str:
    raise ValueError(f"cannot do it: {reason}")


def test_spec_from_simple_type_hints() -> None:
    def search(
        query: str,
        limit: int = 5,
        score: float | None = None,
        exact: bool = False,
        tags: list[str] | None = None,
        mode: Literal["fast", "slow"] = "fast",
        extra: dict[str, int] | None = None,
        anything: Any = None,
    ) -> list[str]:
        """Search the notes."""
        return []

    spec = Tool(search).spec
    assert (spec.name, spec.description) == ("search", "Search the notes.")
    assert spec.parameters == {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "integer"},
            "score": {"type": "number"},
            "exact": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "mode": {"enum": ["fast", "slow"], "type": "string"},
            "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
            "anything": {},
        },
        "required": ["query"],
    }


def test_spec_reads_parameter_descriptions_from_the_docstring() -> None:
    spec = Tool(add).spec
    assert spec.description == "Add two integers."
    assert spec.parameters["properties"]["a"] == {
        "type": "integer",
        "description": "The first number.",
    }
    assert spec.parameters["properties"]["b"]["description"] == (
        "The second number, which may be negative."
    )
    assert spec.parameters["required"] == ["a", "b"]


def test_a_type_with_no_schema_is_a_clear_error() -> None:
    def f(when: complex) -> None: ...

    with pytest.raises(ToolError, match=r"tool 'f': parameter 'when': no JSON schema.*spec="):
        Tool(f)


def test_an_explicit_spec_is_used_as_given() -> None:
    spec = ToolSpec(name="lookup", description="d", parameters={"type": "object"})
    made = Tool(lambda **kw: kw, spec=spec)
    assert made.spec is spec and made.name == "lookup"


def test_tool_decorator_forms() -> None:
    @tool
    def plain(x: int) -> int:
        return x * 2

    @tool(name="renamed", description="Doubles.")
    async def other(x: int) -> int:
        return x * 2

    assert (plain.name, plain(4)) == ("plain", 8)
    assert (other.name, other.spec.description) == ("renamed", "Doubles.")
    assert asyncio.run(other.run({"x": 2})) == "4"


def test_repeated_tool_names_are_an_error() -> None:
    with pytest.raises(ToolError, match=r"tool names repeat: \['add'\]"):
        use_tools(add, Tool(lambda a: a, name="add"))


def test_one_tool_call() -> None:
    backend = ScriptedBackend(calls(("add", {"a": 2, "b": 3})), "The sum is 5.")
    state = Chain(use_tools(add), generate()).run_sync("2 + 3?", backend, "m")
    assert backend.requests[0].tools == (Tool(add).spec,)
    assert [m.role for m in backend.requests[1].messages] == ["user", "assistant", "tool"]
    assert state.messages[2] == ChatMessage(
        role="tool", content="5", tool_call_id="call_0", name="add"
    )
    assert (state.completion, state.model_calls, state.usage.total_tokens) == (
        "The sum is 5.",
        2,
        30,
    )


def test_parallel_tool_calls_run_concurrently_and_answer_in_order() -> None:
    started = asyncio.Event()

    async def first() -> str:
        await asyncio.wait_for(started.wait(), timeout=60)  # needs `second` to run meanwhile
        return "first done"

    async def second() -> dict[str, int]:
        started.set()
        return {"n": 2}

    backend = ScriptedBackend(calls(("first", {}), ("second", {}), ("add", {"a": 1, "b": 1})), "ok")
    state = Chain(use_tools(first, second, add), generate()).run_sync("go", backend, "m")
    results = [(m.tool_call_id, m.name, m.content) for m in state.messages if m.role == "tool"]
    assert results == [
        ("call_0", "first", "first done"),
        ("call_1", "second", json.dumps({"n": 2})),
        ("call_2", "add", "2"),
    ]
    assert state.completion == "ok"


def test_a_raising_tool_answers_with_the_error_and_the_loop_goes_on() -> None:
    backend = ScriptedBackend(calls(("fail", {"reason": "no disk"})), "Sorry, it failed.")
    state = Chain(use_tools(fail), generate()).run_sync("try", backend, "m")
    tool_message = backend.requests[1].messages[-1]
    assert tool_message.role == "tool"
    assert tool_message.content == "Error: tool 'fail' raised ValueError: cannot do it: no disk"
    assert state.error is None and state.completion == "Sorry, it failed."


def test_an_unknown_tool_answers_with_the_tools_there_are() -> None:
    backend = ScriptedBackend(calls(("multiply", {"a": 1})), "I used no tool.")
    state = Chain(use_tools(add, fail), generate()).run_sync("try", backend, "m")
    assert state.messages[2].content == (
        "Error: there is no tool named 'multiply'; the tools are: add, fail."
    )
    assert state.completion == "I used no tool."


def test_bad_arguments_answer_with_the_error() -> None:
    backend = ScriptedBackend(calls(("add", {"a": 1, "c": 2})), "done")
    state = Chain(use_tools(add), generate()).run_sync("try", backend, "m")
    assert state.messages[2].content.startswith("Error: bad arguments for tool 'add':")
    assert "missing a required argument: 'b'" in state.messages[2].content


def test_max_turns_ends_the_loop_with_limit_exceeded() -> None:
    backend = ScriptedBackend(*[calls(("add", {"a": 1, "b": 1}))] * 3)
    chain = Chain(use_tools(add), generate(max_turns=3))
    state = chain.run_sync("loop forever", backend, "m", raise_on_error=False)
    assert len(backend.requests) == 3 and state.model_calls == 3
    assert state.error is not None and state.error.solver == "generate"
    error = state.error.exception
    assert isinstance(error, LimitExceeded)
    assert (error.limit, error.value, error.used) == ("max_turns", 3, 3)
    assert "raise generate(max_turns=...)" in str(error)
    assert state.messages[-1].role == "tool"  # the last tool results are kept


def test_state_limits_max_turns_is_the_default() -> None:
    backend = ScriptedBackend(*[calls(("add", {"a": 1, "b": 1}))] * 2)
    with pytest.raises(ChainError, match="max_turns=2 reached"):
        Chain(use_tools(add), generate()).run_sync("q", backend, "m", limits=Limits(max_turns=2))
    assert len(backend.requests) == 2


def test_tool_calls_single_and_none() -> None:
    backend = ScriptedBackend(calls(("add", {"a": 1, "b": 2})), calls(("add", {"a": 1, "b": 2})))
    state = Chain(use_tools(add), generate(tool_calls="single")).run_sync("q", backend, "m")
    assert [m.role for m in state.messages] == ["user", "assistant", "tool"]
    state = Chain(use_tools(add), generate(tool_calls="none")).run_sync("q", backend, "m")
    assert [m.role for m in state.messages] == ["user", "assistant"]
    assert state.output is not None and state.output.tool_calls[0].name == "add"
    assert len(backend.requests) == 2


def test_use_tools_replaces_a_tool_of_the_same_name() -> None:
    def add_v2(a: int, b: int) -> int:
        return a + b + 100

    chain = Chain(use_tools(add, fail), use_tools(Tool(add_v2, name="add")))
    state = asyncio.run(chain(TaskState("q"), Generate(ScriptedBackend(), "m")))
    assert [t.name for t in state.tools] == ["fail", "add"]
    assert state.tools[1].fn is add_v2


@pytest.mark.parametrize(
    ("options", "expected"),
    [({"max_turns": 0}, "max_turns=0"), ({"tool_calls": "often"}, "tool_calls='often'")],
)
def test_bad_loop_options_are_clear_errors(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ChainError, match=expected):
        Chain(generate(**options)).run_sync("q", ScriptedBackend("x"), "m")


def test_unexpected_arguments_answer_with_the_error() -> None:
    backend = ScriptedBackend(calls(("add", {"a": 1, "b": 2, "c": 3})), "done")
    state = Chain(use_tools(add), generate()).run_sync("try", backend, "m")
    assert "unexpected keyword argument 'c'" in state.messages[2].content
