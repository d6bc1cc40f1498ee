"""Solver pipelines in the style of inspect-ai: composable steps over a task state.

A `TaskState` holds one sample's conversation, target, metadata, intermediate `store`,
limits, tools, last output and usage. A solver is an `async def solve(state, generate)` that
returns the state; `generate` (a `Generate`) calls the model and runs the tool loop. A `Chain`
runs solvers in order and is a solver itself; `as_condition` turns a chain into an experiment
condition, `Chain.run_sync` runs one from a script.

```python
from pytest_crucible.llm.solvers import Chain, as_condition, generate, system_message, use_tools

chain = Chain(system_message("Answer tersely."), use_tools(add), generate(), name="calc")
answer = chain.run_sync("What is 2 + 3?", backend, "my-model").completion
condition = as_condition(chain, backend, "my-model", temperature=0.0)
```
"""

from __future__ import annotations

from pytest_crucible.llm.solvers._builtin import (
    DEFAULT_COMPLETION_TEMPLATE,
    DEFAULT_COT_TEMPLATE,
    DEFAULT_CRITIQUE_TEMPLATE,
    chain_of_thought,
    generate,
    prompt_template,
    self_critique,
    system_message,
    use_tools,
)
from pytest_crucible.llm.solvers._chain import Chain
from pytest_crucible.llm.solvers._condition import as_condition
from pytest_crucible.llm.solvers._errors import (
    ChainError,
    LimitExceeded,
    SolverError,
    TemplateError,
    ToolError,
)
from pytest_crucible.llm.solvers._generate import Generate, ToolCalls
from pytest_crucible.llm.solvers._solver import NamedSolver, Solver, solver
from pytest_crucible.llm.solvers._state import Limits, SolverFailure, TaskState
from pytest_crucible.llm.solvers._tools import Tool, tool

__all__ = [
    "DEFAULT_COMPLETION_TEMPLATE",
    "DEFAULT_COT_TEMPLATE",
    "DEFAULT_CRITIQUE_TEMPLATE",
    "Chain",
    "ChainError",
    "Generate",
    "LimitExceeded",
    "Limits",
    "NamedSolver",
    "Solver",
    "SolverError",
    "SolverFailure",
    "TaskState",
    "TemplateError",
    "Tool",
    "ToolCalls",
    "ToolError",
    "as_condition",
    "chain_of_thought",
    "generate",
    "prompt_template",
    "self_critique",
    "solver",
    "system_message",
    "tool",
    "use_tools",
]
