from __future__ import annotations

import json

import pytest

from pytest_crucible.errors import CrucibleError
from pytest_crucible.llm.solvers import Limits, SolverError, TaskState
from pytest_crucible.llm.types import ChatMessage, Usage


def test_a_string_input_is_one_user_message() -> None:
    state = TaskState("What is 2 + 2?", target="4", metadata={"topic": "sums"}, id="q1")
    assert state.messages == [ChatMessage(role="user", content="What is 2 + 2?")]
    assert (state.input, state.input_text, state.user_prompt) == ("What is 2 + 2?",) * 3
    assert (state.target, state.metadata, state.id) == ("4", {"topic": "sums"}, "q1")
    assert (state.output, state.completion, state.completed, state.error) == (None, "", False, None)
    assert (state.usage, state.model_calls, state.store, state.tools) == (Usage(), 0, {}, [])
    assert state.limits == Limits()


def test_messages_input_takes_chat_messages_and_dicts() -> None:
    state = TaskState(
        [{"role": "system", "content": "Be brief."}, ChatMessage(role="user", content="Hi")]
    )
    assert [m.role for m in state.messages] == ["system", "user"]
    assert state.input_text == "Hi"
    state.messages.append(ChatMessage(role="assistant", content="Hello"))
    assert len(state.input) == 2  # the input is a copy, not the live conversation


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ([{"role": "robot", "content": "x"}], "input message 0"),
        (["just a string"], "input message 0 is a str"),
    ],
)
def test_a_bad_input_message_is_a_clear_error(bad: list[object], expected: str) -> None:
    with pytest.raises(SolverError, match=expected):
        TaskState(bad)  # type: ignore[arg-type]


def test_user_prompt_is_the_last_user_message_and_settable() -> None:
    state = TaskState("first")
    state.messages += [
        ChatMessage(role="assistant", content="answer"),
        ChatMessage(role="user", content="second"),
        ChatMessage(role="assistant", content="again"),
    ]
    assert state.user_prompt == "second"
    state.user_prompt = "second, rewritten"
    assert [m.content for m in state.messages] == ["first", "answer", "second, rewritten", "again"]


def test_setting_user_prompt_without_a_user_message_appends_one() -> None:
    state = TaskState([ChatMessage(role="system", content="sys")])
    assert state.user_prompt == ""
    state.user_prompt = "now a question"
    assert [(m.role, m.content) for m in state.messages] == [
        ("system", "sys"),
        ("user", "now a question"),
    ]


@pytest.mark.parametrize("field", ["max_turns", "max_tokens", "max_model_calls"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_limits_are_positive_ints(field: str, value: object) -> None:
    with pytest.raises(SolverError, match=f"Limits\\({field}="):
        Limits(**{field: value})  # type: ignore[arg-type]


def test_solver_errors_belong_to_the_crucible_error_tree() -> None:
    assert issubclass(SolverError, CrucibleError)


def test_to_dict_is_json_safe() -> None:
    state = TaskState("q")
    state.store["scratch"] = object()
    summary = state.to_dict()
    assert json.loads(json.dumps(summary))["messages"] == [{"role": "user", "content": "q"}]
    assert summary["store"] == ["scratch"]
