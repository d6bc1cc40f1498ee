"""`as_condition`: a solver chain as an experiment condition.

A condition's trial keys hash its source code (`pytest_crucible.declare.conditions.code_identity`).
The condition made here is a real `async def` whose source is generated for the chain: it
names the chain's solvers and holds a digest of what identifies them (each solver factory's
code and arguments, the tools' code, the backend's name, the model and the parameters). The
source is registered with `linecache` so `inspect.getsource` reads it like any function's.
Editing a prompt template in the chain therefore changes that condition's trial keys, as
editing a hand-written condition would.
"""

from __future__ import annotations

import dataclasses
import keyword
import linecache
import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from pytest_crucible.llm.solvers._chain import Chain, make_state, raise_failure
from pytest_crucible.llm.solvers._errors import SolverError
from pytest_crucible.llm.solvers._generate import Generate, check_params
from pytest_crucible.llm.solvers._solver import Solver, solver_identity
from pytest_crucible.llm.solvers._state import Limits, TaskState
from pytest_crucible.llm.types import Backend, ChatMessage
from pytest_crucible.util.hashing import canonical_json, digest

__all__ = ["as_condition"]

_SOURCE = """\
async def {name}(input, *, seed=None, target=None, metadata=None, backend=None, **params):
    {doc!r}
    chain = {identity!r}
    return await _run(input, seed, target, metadata, backend, params)
"""


def as_condition(
    chain: Solver,
    backend: Backend | None,
    model: str,
    *,
    name: str | None = None,
    limits: Limits | None = None,
    return_state: bool = False,
    raise_on_error: bool = True,
    **params: Any,
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """An async condition that runs `chain` on its input with `Generate(backend, model,
    **params)` and returns the final output text (the `TaskState` with `return_state=True`).

    The condition is called as `condition(input, *, seed=None, target=None, metadata=None,
    backend=None, **params)`: `input` is a string, a list of messages or a `TaskState`; `seed`
    and `params` override the sampling parameters for that call (so `Condition(fn,
    params={...})` works); `target` and `metadata` go to the state (metadata fills prompt
    templates); `backend` replaces the default one (pass `backend=None` here when the backend
    only exists in the trial, e.g. made from a server fixture). A solver that fails raises
    `ChainError` (the trial records it) unless `raise_on_error=False`.
    """
    base = chain if isinstance(chain, Chain) else Chain(chain, name=name or "chain")
    label = _identifier(name or base.name)
    defaults = check_params(params, f"as_condition {label}")
    if backend is not None:
        Generate(backend, model, **defaults)  # check the backend now, not at the first trial
    runner = _Runner(base, backend, model, defaults, limits, return_state, raise_on_error, label)
    identity = digest(
        canonical_json(
            {
                "chain": solver_identity(base),
                "backend": backend.name if backend is not None else None,
                "model": model,
                "params": defaults,
                "limits": dataclasses.asdict(limits) if limits else None,
                "return_state": return_state,
            }
        )
    )
    served = f"{backend.name} model" if backend is not None else "model"
    doc = f"Run the solver chain {base!r} with {served} {model!r}."
    source = _SOURCE.format(name=label, doc=doc, identity=identity)
    filename = f"<crucible condition {label} {identity}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": __name__, "_run": runner}
    exec(compile(source, filename, "exec"), namespace)
    condition: Callable[..., Coroutine[Any, Any, Any]] = namespace[label]
    condition.chain = base  # type: ignore[attr-defined]
    return condition


@dataclasses.dataclass(frozen=True, eq=False)
class _Runner:
    """What the generated condition calls: the chain run with the backend and the parameters."""

    chain: Chain
    backend: Backend | None
    model: str
    params: dict[str, Any]
    limits: Limits | None
    return_state: bool
    raise_on_error: bool
    name: str

    async def __call__(
        self,
        input: str | Sequence[ChatMessage | Mapping[str, Any]] | TaskState,
        seed: int | None,
        target: Any,
        metadata: Mapping[str, Any] | None,
        backend: Backend | None,
        params: Mapping[str, Any],
    ) -> Any:
        overrides = check_params(params, f"condition {self.name}")
        if seed is not None:
            overrides["seed"] = seed
        limits = None if isinstance(input, TaskState) else self.limits
        state = make_state(input, target=target, metadata=metadata, limits=limits)
        backend = backend or self.backend
        if backend is None:
            raise SolverError(
                f"condition {self.name} has no backend: pass one to as_condition(chain, backend, "
                "...) or to the call, condition(input, backend=...)"
            )
        generate = Generate(backend, self.model, **{**self.params, **overrides})
        state = await self.chain(state, generate)
        if self.raise_on_error:
            raise_failure(state, self.name)
        return state if self.return_state else state.completion


def _identifier(name: str) -> str:
    text = re.sub(r"\W", "_", name) or "chain"
    if text[0].isdigit() or keyword.iskeyword(text):
        text = "_" + text
    return text
