from __future__ import annotations

import asyncio
import pickle

import pytest

from pytest_crucible.llm.solvers import (
    Chain,
    ChainError,
    Generate,
    NamedSolver,
    Solver,
    SolverError,
    SolverFailure,
    TaskState,
    generate,
    solver,
    system_message,
)

from .scripted import ScriptedBackend


@solver
def mark(label: str, *, complete: bool = False) -> Solver:
    """Append `label` to state.store["trace"]; optionally mark the state completed."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state.store.setdefault("trace", []).append(label)
        state.completed = complete
        return state

    return solve


@solver(name="explode")
def boom(message: str = "kaboom") -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        raise RuntimeError(message)

    return solve


def trace(state: TaskState) -> list[str]:
    return list(state.store.get("trace", []))


def test_solvers_run_in_order() -> None:
    state = Chain(mark("a"), mark("b"), mark("c")).run_sync("q", ScriptedBackend(), "m")
    assert trace(state) == ["a", "b", "c"]
    assert state.error is None


def test_the_chain_stops_when_the_state_is_completed() -> None:
    backend = ScriptedBackend("never sent")
    state = Chain(mark("a", complete=True), mark("b"), generate()).run_sync("q", backend, "m")
    assert trace(state) == ["a"]
    assert state.completed and backend.requests == []


def test_a_raising_solver_stops_the_chain_and_is_kept_on_the_state() -> None:
    chain = Chain(mark("a"), boom("no luck"), mark("c"))
    state = chain.run_sync("q", ScriptedBackend(), "m", raise_on_error=False)
    assert trace(state) == ["a"]
    assert isinstance(state.error, SolverFailure)
    assert state.error.solver == "explode"
    assert isinstance(state.error.exception, RuntimeError)
    assert str(state.error) == "solver 'explode' raised RuntimeError: no luck"


def test_run_raises_chain_error_naming_the_solver() -> None:
    chain = Chain(mark("a"), boom("no luck"), name="pipeline")
    with pytest.raises(ChainError) as caught:
        chain.run_sync("q", ScriptedBackend(), "m")
    error = caught.value
    assert str(error) == "chain 'pipeline' stopped: solver 'explode' raised RuntimeError: no luck"
    assert error.solver == "explode"
    assert isinstance(error.__cause__, RuntimeError)
    assert error.state is not None and trace(error.state) == ["a"]
    restored = pickle.loads(pickle.dumps(error))  # crosses process boundaries (xdist)
    assert (str(restored), restored.solver) == (str(error), "explode")


def test_the_chain_as_a_solver_returns_the_state_with_the_error() -> None:
    state = asyncio.run(Chain(boom())(TaskState("q"), Generate(ScriptedBackend(), "m")))
    assert state.error is not None and state.error.solver == "explode"


def test_chains_nest() -> None:
    backend = ScriptedBackend("answer")
    inner = Chain(mark("inner-1"), system_message("sys"), name="inner")
    outer = Chain(mark("outer-1"), inner, Chain(mark("inner-2"), generate()), mark("outer-2"))
    state = outer.run_sync("q", backend, "m")
    assert trace(state) == ["outer-1", "inner-1", "inner-2", "outer-2"]
    assert backend.texts(0) == [("system", "sys"), ("user", "q")]
    assert state.completion == "answer"


def test_completion_inside_a_nested_chain_stops_the_outer_chain() -> None:
    outer = Chain(Chain(mark("a", complete=True), mark("b")), mark("c"))
    assert trace(outer.run_sync("q", ScriptedBackend(), "m")) == ["a"]


def test_an_error_inside_a_nested_chain_stops_the_outer_chain() -> None:
    outer = Chain(Chain(mark("a"), boom(), name="inner"), mark("c"), name="outer")
    with pytest.raises(ChainError, match="chain 'outer' stopped: solver 'explode'"):
        outer.run_sync("q", ScriptedBackend(), "m")
    state = outer.run_sync("q", ScriptedBackend(), "m", raise_on_error=False)
    assert trace(state) == ["a"]


def test_a_solver_that_returns_no_state_is_an_error() -> None:
    async def forgetful(state: TaskState, generate: Generate) -> TaskState:
        state.store["x"] = 1
        return None  # type: ignore[return-value]

    with pytest.raises(ChainError, match=r"solver 'test_a_solver.*forgetful' returned NoneType"):
        Chain(forgetful).run_sync("q", ScriptedBackend(), "m")


def test_plain_async_functions_and_objects_are_solvers() -> None:
    async def shout(state: TaskState, generate: Generate) -> TaskState:
        state.user_prompt = state.user_prompt.upper()
        return state

    class Suffix:
        async def __call__(self, state: TaskState, generate: Generate) -> TaskState:
            state.user_prompt += "!"
            return state

    backend = ScriptedBackend("ok")
    Chain(shout, Suffix(), generate()).run_sync("hey", backend, "m")
    assert backend.texts(0) == [("user", "HEY!")]


def test_a_chain_takes_only_callables() -> None:
    with pytest.raises(SolverError, match="Chain 'c': solver 1 \\('oops'\\) is not callable"):
        Chain(mark("a"), "oops", name="c")  # type: ignore[arg-type]


def test_solver_decorator_names_solvers_and_keeps_their_arguments() -> None:
    made = mark("a", complete=True)
    assert isinstance(made, NamedSolver)
    assert (made.name, made.args, made.kwargs) == ("mark", ("a",), {"complete": True})
    assert repr(made) == "mark('a', complete=True)"
    assert boom().name == "explode"
    assert mark.__name__ == "mark" and "store" in (mark.__doc__ or "")
    assert repr(Chain(mark("a"), Chain(boom(), name="in"))) == (
        "Chain(mark('a'), Chain(explode(), name='in'))"
    )


def test_run_sync_refuses_to_run_inside_an_event_loop() -> None:
    async def inside() -> None:
        Chain(mark("a")).run_sync("q", ScriptedBackend(), "m")

    with pytest.raises(SolverError, match=r"use `await chain\.run"):
        asyncio.run(inside())


def test_run_takes_a_task_state() -> None:
    state = TaskState("q", metadata={"k": "v"})
    result = asyncio.run(Chain(mark("a")).run(state, ScriptedBackend(), "m"))
    assert result is state and trace(state) == ["a"]
    with pytest.raises(SolverError, match="already a TaskState"):
        Chain(mark("a")).run_sync(state, ScriptedBackend(), "m", target="x")
