"""`Generate`: what solvers call to ask the model, with the tool loop and the state's limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from pytest_crucible.llm.solvers._errors import LimitExceeded, SolverError
from pytest_crucible.llm.solvers._state import DEFAULT_MAX_TURNS, TaskState
from pytest_crucible.llm.solvers._tools import run_tool_calls
from pytest_crucible.llm.types import Backend, ChatMessage, ModelRequest, ModelResponse

__all__ = ["GENERATE_PARAMS", "Generate", "ToolCalls"]

ToolCalls = Literal["loop", "single", "none"]

# The sampling parameters a generate call may set: the request's fields but its content.
GENERATE_PARAMS = frozenset(ModelRequest.model_fields) - {"model", "messages", "tools"}


def check_params(params: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = sorted(set(params) - GENERATE_PARAMS)
    if unknown:
        raise SolverError(
            f"{where}: unknown generate parameter(s) {unknown}; the parameters are "
            f"{sorted(GENERATE_PARAMS)} (backend-specific ones go in extra={{...}})"
        )
    return dict(params)


class Generate:
    """Calls one model through a backend for a task state.

    `await generate(state, **params)` sends the state's messages (and its tools), appends the
    assistant's message, sets `state.output` and adds to `state.usage` and `state.model_calls`.
    When the model asks for tool calls and `tool_calls="loop"` (the default) the tools run,
    their results are appended as tool messages and the model is called again, until it
    answers without tool calls. `tool_calls="single"` runs the tools once and returns;
    `"none"` returns the response that asks for them.

    Limits raise `LimitExceeded` (the state keeps what happened so far): before a call when
    `max_model_calls` or `max_tokens` is used up, after a call that took usage past
    `max_tokens`, and when the tool loop has made `max_turns` model calls and the model still
    asks for tools (`max_turns` argument, else `state.limits.max_turns`, else 10).

    `params` are the request's sampling fields (max_tokens, temperature, top_p, seed, stop,
    extra); the ones given to a call override the defaults given here.
    """

    def __init__(self, backend: Backend, model: str, **params: Any) -> None:
        if not isinstance(backend, Backend):
            raise SolverError(
                f"Generate: {backend!r:.60} is not a backend; a backend has `name`, "
                "`generate(request)` and `agenerate(request)` (see pytest_crucible.llm.types)"
            )
        self.backend = backend
        self.model = model
        self.params = check_params(params, "Generate")

    def __repr__(self) -> str:
        return f"Generate({self.backend.name!r}, {self.model!r}, **{self.params!r})"

    async def __call__(
        self,
        state: TaskState,
        *,
        tool_calls: ToolCalls = "loop",
        max_turns: int | None = None,
        **params: Any,
    ) -> TaskState:
        if tool_calls not in ("loop", "single", "none"):
            raise SolverError(
                f"generate(tool_calls={tool_calls!r}): use 'loop', 'single' or 'none'"
            )
        if max_turns is not None and (isinstance(max_turns, bool) or max_turns < 1):
            raise SolverError(f"generate(max_turns={max_turns!r}): give a positive int")
        turns_allowed = max_turns or state.limits.max_turns or DEFAULT_MAX_TURNS
        specs = tuple(t.spec for t in state.tools)
        turns = 0
        while True:
            response = await self.complete(state, state.messages, tools=specs, **params)
            state.messages.append(
                ChatMessage(
                    role="assistant", content=response.content, tool_calls=response.tool_calls
                )
            )
            turns += 1
            if not response.tool_calls or tool_calls == "none":
                return state
            state.messages.extend(await run_tool_calls(state.tools, response.tool_calls))
            if tool_calls == "single":
                return state
            if turns >= turns_allowed:
                raise LimitExceeded(
                    "max_turns",
                    turns_allowed,
                    turns,
                    "the model still asks for tools; raise generate(max_turns=...) or "
                    "Limits(max_turns=...), or use generate(tool_calls='single')",
                )

    async def complete(
        self,
        state: TaskState,
        messages: Sequence[ChatMessage],
        *,
        tools: Sequence[Any] = (),
        **params: Any,
    ) -> ModelResponse:
        """One model call on `messages`, counted against the state's limits and added to its
        usage and output; the messages are not appended (for side questions such as a
        critique). `tools` are `ToolSpec`s to offer."""
        merged = {**self.params, **check_params(params, "generate")}
        try:
            request = ModelRequest(
                model=self.model, messages=tuple(messages), tools=tuple(tools), **merged
            )
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise SolverError(f"generate: invalid parameters {merged!r:.200}: {details}") from None
        _check_before(state)
        response = await self.backend.agenerate(request)
        state.model_calls += 1
        state.usage = state.usage + response.usage
        state.output = response
        limit = state.limits.max_tokens
        if limit is not None and state.usage.total_tokens > limit:
            raise LimitExceeded("max_tokens", limit, state.usage.total_tokens, _TOKENS_HINT)
        return response


_TOKENS_HINT = "raise Limits(max_tokens=...) or lower the calls' max_tokens"


def _check_before(state: TaskState) -> None:
    limits = state.limits
    if limits.max_model_calls is not None and state.model_calls >= limits.max_model_calls:
        raise LimitExceeded(
            "max_model_calls",
            limits.max_model_calls,
            state.model_calls,
            "no more model calls for this state; raise Limits(max_model_calls=...)",
        )
    if limits.max_tokens is not None and state.usage.total_tokens >= limits.max_tokens:
        raise LimitExceeded("max_tokens", limits.max_tokens, state.usage.total_tokens, _TOKENS_HINT)
