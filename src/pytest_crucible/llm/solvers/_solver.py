"""The `Solver` protocol, the `@solver` decorator, and what names and identifies a solver."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, overload, runtime_checkable

from pydantic import BaseModel

from pytest_crucible.declare.conditions import code_identity

if TYPE_CHECKING:
    from pytest_crucible.llm.solvers._generate import Generate
    from pytest_crucible.llm.solvers._state import TaskState

__all__ = ["NamedSolver", "Solver", "solver", "solver_identity", "solver_name"]

P = ParamSpec("P")


@runtime_checkable
class Solver(Protocol):
    """A step of a pipeline: takes the task state and `generate` (which calls the model) and
    returns the state (changed in place, or a new one)."""

    async def __call__(self, state: TaskState, generate: Generate, /) -> TaskState: ...


class NamedSolver:
    """A solver made by a `@solver` factory: it remembers the factory and its arguments, which
    name it in errors and identify it in trial keys (see `as_condition`)."""

    def __init__(
        self,
        name: str,
        fn: Solver,
        factory: Callable[..., Any],
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.fn = fn
        self.factory = factory
        self.args = args
        self.kwargs = dict(kwargs or {})

    async def __call__(self, state: TaskState, generate: Generate) -> TaskState:
        return await self.fn(state, generate)

    def __repr__(self) -> str:
        shown = [_short(a) for a in self.args]
        shown += [f"{k}={_short(v)}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(shown)})"


@overload
def solver(factory: Callable[P, Solver], /) -> Callable[P, NamedSolver]: ...
@overload
def solver(
    *, name: str | None = None
) -> Callable[[Callable[P, Solver]], Callable[P, NamedSolver]]: ...
def solver(
    factory: Callable[P, Solver] | None = None, /, *, name: str | None = None
) -> Callable[P, NamedSolver] | Callable[[Callable[P, Solver]], Callable[P, NamedSolver]]:
    """Turn a factory of solvers into one of named solvers: `@solver` or `@solver(name=...)`.

    ```python
    @solver
    def answer_upper() -> Solver:
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            state = await generate(state)
            state.store["upper"] = state.completion.upper()
            return state
        return solve
    ```
    """

    def wrap(make: Callable[P, Solver]) -> Callable[P, NamedSolver]:
        label: str = name or getattr(make, "__name__", None) or "solver"

        @functools.wraps(make)
        def named(*args: P.args, **kwargs: P.kwargs) -> NamedSolver:
            made = make(*args, **kwargs)
            if not callable(made):
                raise TypeError(
                    f"@solver {label}: the factory returned {made!r:.60}; it must return "
                    "the solver, an `async def solve(state, generate)`"
                )
            return NamedSolver(label, made, make, args, kwargs)

        return named

    return wrap(factory) if factory is not None else wrap


def solver_name(obj: Any) -> str:
    """The name a solver goes by in errors: its `name`, else its function or class name."""
    name = getattr(obj, "name", None)
    if isinstance(name, str) and name:
        return name
    return str(getattr(obj, "__qualname__", None) or type(obj).__qualname__)


def solver_identity(obj: Any) -> Any:
    """A JSON-able description of what a solver does: the code of its factory, function or
    class (as `code_identity` hashes it) and the arguments it was made with. Two chains with
    the same identity ask the same questions."""
    from pytest_crucible.llm.solvers._chain import Chain
    from pytest_crucible.llm.solvers._tools import Tool

    if isinstance(obj, Chain):
        return {"chain": obj.name, "solvers": [solver_identity(s) for s in obj.solvers]}
    if isinstance(obj, NamedSolver):
        return {
            "solver": obj.name,
            "code": code_identity(obj.factory),
            "args": [_value_identity(a) for a in obj.args],
            "kwargs": {k: _value_identity(v) for k, v in sorted(obj.kwargs.items())},
        }
    if isinstance(obj, Tool):
        return {"tool": obj.spec.model_dump(), "code": code_identity(obj.fn)}
    return {"callable": solver_name(obj), "code": code_identity(obj)}


def _value_identity(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_value_identity(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _value_identity(v) for k, v in sorted(value.items(), key=str)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if callable(value) or inspect.isclass(value):
        return solver_identity(value)
    return repr(value)


def _short(value: Any, width: int = 40) -> str:
    """A short repr with no memory addresses (it shows in a condition's source)."""
    from pytest_crucible.llm.solvers._chain import Chain
    from pytest_crucible.llm.solvers._tools import Tool

    if value is None or isinstance(value, str | int | float | bool):
        text = repr(value)
    elif isinstance(value, NamedSolver | Chain | Tool):
        return repr(value)
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_short(v, width) for v in value) + "]"
    elif callable(value):
        return solver_name(value)
    else:
        text = f"<{type(value).__qualname__}>"
    return text if len(text) <= width else text[: width - 3] + "..."
