"""`Chain`: solvers run in order, stopping at completion or at the first error."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_crucible.llm.solvers._errors import ChainError, SolverError
from pytest_crucible.llm.solvers._generate import Generate
from pytest_crucible.llm.solvers._solver import NamedSolver, Solver, solver_name
from pytest_crucible.llm.solvers._state import Limits, SolverFailure, TaskState
from pytest_crucible.llm.types import Backend, ChatMessage

__all__ = ["Chain", "make_state"]


class Chain:
    """Solvers run one after the other; a chain is itself a solver, so chains nest.

    The chain stops before the next solver once `state.completed` is set or `state.error` is
    set. A solver that raises does not propagate out of the chain: the chain keeps the error
    on the state (`state.error`, a `SolverFailure` naming the solver) and returns the state.
    `run`, `run_sync` and conditions made by `as_condition` then raise `ChainError` (unless
    told `raise_on_error=False`), so a failing pipeline fails its trial.
    """

    def __init__(self, *solvers: Solver, name: str = "chain") -> None:
        for position, item in enumerate(solvers):
            if not callable(item):
                raise SolverError(
                    f"Chain {name!r}: solver {position} ({item!r:.60}) is not callable; "
                    "a solver is an `async def solve(state, generate)` or a Chain"
                )
        self.solvers: tuple[Solver, ...] = solvers
        self.name = name

    def __repr__(self) -> str:
        inner = ", ".join(
            repr(s) if isinstance(s, NamedSolver | Chain) else solver_name(s) for s in self.solvers
        )
        label = "" if self.name == "chain" else f", name={self.name!r}"
        return f"Chain({inner}{label})"

    async def __call__(self, state: TaskState, generate: Generate, /) -> TaskState:
        for item in self.solvers:
            if state.completed or state.error is not None:
                break
            try:
                result: Any = item(state, generate)
                if inspect.isawaitable(result):
                    result = await result
                if not isinstance(result, TaskState):
                    raise SolverError(
                        f"solver {solver_name(item)!r} returned {type(result).__name__}; "
                        "a solver must return the TaskState (add `return state`)"
                    )
            except Exception as exc:
                state.error = SolverFailure(solver_name(item), exc)
                break
            state = result
        return state

    async def run(
        self,
        input: str | Sequence[ChatMessage | Mapping[str, Any]] | TaskState,
        backend: Backend,
        model: str,
        *,
        target: Any = None,
        metadata: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        raise_on_error: bool = True,
        **params: Any,
    ) -> TaskState:
        """Run the chain on an input (or a `TaskState`) with `Generate(backend, model,
        **params)`; raise `ChainError` if a solver failed, unless `raise_on_error=False`."""
        state = make_state(input, target=target, metadata=metadata, limits=limits)
        state = await self(state, Generate(backend, model, **params))
        if raise_on_error:
            raise_failure(state, self.name)
        return state

    def run_sync(
        self,
        input: str | Sequence[ChatMessage | Mapping[str, Any]] | TaskState,
        backend: Backend,
        model: str,
        **options: Any,
    ) -> TaskState:
        """`run` for scripts: runs its own event loop (so not inside one: await `run` there)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(input, backend, model, **options))
        raise SolverError(
            f"Chain {self.name!r}: run_sync() was called inside a running event loop; "
            "use `await chain.run(...)` there"
        )


def make_state(
    input: str | Sequence[ChatMessage | Mapping[str, Any]] | TaskState,
    *,
    target: Any = None,
    metadata: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
) -> TaskState:
    if not isinstance(input, TaskState):
        return TaskState(input, target=target, metadata=metadata, limits=limits)
    if target is not None or metadata is not None or limits is not None:
        raise SolverError(
            "target, metadata and limits are given to TaskState(...) when the input is "
            "already a TaskState"
        )
    return input


def raise_failure(state: TaskState, chain: str) -> None:
    failure = state.error
    if failure is not None:
        raise ChainError(
            f"chain {chain!r} stopped: {failure}", solver=failure.solver, state=state
        ) from failure.exception
