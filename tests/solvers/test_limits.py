from __future__ import annotations

import pytest

from pytest_crucible.llm.solvers import (
    Chain,
    ChainError,
    LimitExceeded,
    Limits,
    generate,
    self_critique,
    use_tools,
)

from .scripted import ScriptedBackend, answer, calls


def add(a: int, b: int) -> int:
    return a + b


def test_usage_and_model_calls_accumulate() -> None:
    backend = ScriptedBackend(answer("a", tokens=(7, 3)), answer("b", tokens=(20, 4)))
    state = Chain(generate(), generate()).run_sync("q", backend, "m")
    assert (state.usage.input_tokens, state.usage.output_tokens, state.model_calls) == (27, 7, 2)
    assert state.output is not None and state.output.content == "b"


def test_max_model_calls_refuses_the_next_call() -> None:
    backend = ScriptedBackend("a", "b", "c")
    chain = Chain(generate(), generate(), generate())
    state = chain.run_sync(
        "q", backend, "m", limits=Limits(max_model_calls=2), raise_on_error=False
    )
    assert len(backend.requests) == 2 and state.model_calls == 2
    assert state.error is not None
    error = state.error.exception
    assert isinstance(error, LimitExceeded)
    assert (error.limit, error.value, error.used) == ("max_model_calls", 2, 2)
    assert state.completion == "b"  # what happened before the limit is kept


def test_max_model_calls_counts_tool_loop_turns_and_critiques() -> None:
    backend = ScriptedBackend(calls(("add", {"a": 1, "b": 2})), "3", "critique", "3 again")
    chain = Chain(use_tools(add), generate(), self_critique())
    with pytest.raises(ChainError, match="max_model_calls=3 reached") as caught:
        chain.run_sync("q", backend, "m", limits=Limits(max_model_calls=3))
    assert caught.value.solver == "self_critique"
    assert len(backend.requests) == 3


def test_max_tokens_fails_the_call_that_goes_past_it() -> None:
    backend = ScriptedBackend(answer("a", tokens=(30, 10)), answer("b", tokens=(30, 10)))
    state = Chain(generate(), generate()).run_sync(
        "q", backend, "m", limits=Limits(max_tokens=60), raise_on_error=False
    )
    assert state.error is not None
    error = state.error.exception
    assert isinstance(error, LimitExceeded)
    assert (error.limit, error.value, error.used) == ("max_tokens", 60, 80)
    assert "raise Limits(max_tokens=...)" in str(error)
    assert len(backend.requests) == 2


def test_max_tokens_refuses_a_call_once_used_up() -> None:
    backend = ScriptedBackend(answer("a", tokens=(30, 10)), "never")
    state = Chain(generate(), generate()).run_sync(
        "q", backend, "m", limits=Limits(max_tokens=40), raise_on_error=False
    )
    assert len(backend.requests) == 1
    assert state.error is not None and isinstance(state.error.exception, LimitExceeded)
    assert (state.error.exception.limit, state.error.exception.used) == ("max_tokens", 40)


def test_within_the_limits_nothing_happens() -> None:
    backend = ScriptedBackend(calls(("add", {"a": 1, "b": 2})), "3")
    limits = Limits(max_turns=2, max_tokens=30, max_model_calls=2)
    state = Chain(use_tools(add), generate()).run_sync("q", backend, "m", limits=limits)
    assert (state.error, state.completion, state.usage.total_tokens) == (None, "3", 30)
