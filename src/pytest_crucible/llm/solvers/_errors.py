"""The errors of solver pipelines: all of them are `SolverError`s, hence `CrucibleError`s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_crucible.errors import CrucibleError

if TYPE_CHECKING:
    from pytest_crucible.llm.solvers._state import TaskState

__all__ = ["ChainError", "LimitExceeded", "SolverError", "TemplateError", "ToolError"]


class SolverError(CrucibleError):
    """A solver is used wrongly (bad generate parameters, a solver that returns no state, ...)."""


class TemplateError(SolverError):
    """A prompt template names a field that is not there, or cannot be parsed."""


class ToolError(SolverError):
    """A tool cannot be defined: its signature has a type with no JSON schema, a name repeats."""


class LimitExceeded(SolverError):
    """A limit of the task state (or the tool loop's `max_turns`) was reached.

    `limit` is the limit's name ("max_turns", "max_tokens", "max_model_calls"), `value` its
    value and `used` how much had been used when it was hit.
    """

    def __init__(self, limit: str, value: int, used: int, hint: str) -> None:
        self.limit = limit
        self.value = value
        self.used = used
        super().__init__(f"{limit}={value} reached ({used} used); {hint}")

    def __reduce__(self) -> tuple[type[LimitExceeded], tuple[str, int, int, str]]:
        hint = str(self).split("; ", 1)[-1]
        return (type(self), (self.limit, self.value, self.used, hint))


class ChainError(SolverError):
    """A solver of a chain raised: raised by `Chain.run`, `Chain.run_sync` and conditions made
    by `as_condition`. `solver` names the solver, `state` is the task state when it failed and
    `__cause__` is the solver's exception."""

    def __init__(self, message: str, *, solver: str = "", state: TaskState | None = None) -> None:
        super().__init__(message)
        self.solver = solver
        self.state = state

    def __reduce__(self) -> tuple[type[ChainError], tuple[str], dict[str, object]]:
        # Pickled across processes (pytest-xdist): the message and the solver's name survive.
        return (type(self), (str(self),), {"solver": self.solver, "state": None})
