"""The built-in solvers: system message, prompt templates, generate, chain of thought,
self-critique and tools."""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

from pytest_crucible.llm.solvers._errors import SolverError, TemplateError
from pytest_crucible.llm.solvers._generate import Generate, check_params
from pytest_crucible.llm.solvers._solver import Solver, solver
from pytest_crucible.llm.solvers._state import TaskState
from pytest_crucible.llm.solvers._tools import Tool, as_tools
from pytest_crucible.llm.types import ChatMessage

__all__ = [
    "DEFAULT_COMPLETION_TEMPLATE",
    "DEFAULT_COT_TEMPLATE",
    "DEFAULT_CRITIQUE_TEMPLATE",
    "chain_of_thought",
    "generate",
    "prompt_template",
    "render",
    "self_critique",
    "system_message",
    "use_tools",
]

DEFAULT_COT_TEMPLATE = """{prompt}

Work through the problem one step at a time before you answer, writing out your reasoning. \
End with a line of its own of the form "ANSWER: <answer>" that holds only the final answer."""

DEFAULT_CRITIQUE_TEMPLATE = """You are reviewing an answer to a question.

Question:
{question}

Answer:
{completion}

List what is wrong, missing or unjustified in the answer, as precisely as you can. \
If the answer is entirely correct, say so and suggest nothing."""

DEFAULT_COMPLETION_TEMPLATE = """A reviewer read your answer and wrote this critique:

{critique}

Taking the critique into account, give your final answer to the question again, corrected \
where the critique is right. If the critique found nothing wrong, give the same answer."""


def template_fields(template: str, where: str) -> set[str]:
    """The names a template uses; positional fields and bad syntax are a `TemplateError`."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(
            f"{where}: cannot parse the template ({exc}); write {{{{ and }}}} for literal braces"
        ) from None
    names: set[str] = set()
    for _, field, _, _ in parsed:
        if field is None:
            continue
        root = field.split(".", 1)[0].split("[", 1)[0]
        if not root or root.isdigit():
            raise TemplateError(
                f"{where}: the template has a positional field {{{field}}}; name the fields, "
                "e.g. {prompt}, and write {{ and }} for literal braces"
            )
        names.add(root)
    return names


def render(template: str, fields: Mapping[str, Any], where: str) -> str:
    """`template.format(**fields)`, with an error that names a missing field and the fields
    there are."""
    missing = sorted(template_fields(template, where) - set(fields))
    if missing:
        raise TemplateError(
            f"{where}: the template uses {', '.join('{' + m + '}' for m in missing)} but there "
            f"is no such field; the fields are {sorted(fields)} (from the state's metadata and "
            "the solver's arguments); write {{ and }} for literal braces"
        )
    try:
        return template.format_map(fields)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        raise TemplateError(f"{where}: cannot fill the template: {exc!r}") from None


@solver
def system_message(text: str, **params: Any) -> Solver:
    """Put a system message after the system messages at the start of the conversation.
    `text` is a template filled from the state's metadata and `params`."""
    template_fields(text, "system_message")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        content = render(text, {**state.metadata, **params}, "system_message")
        position = 0
        while position < len(state.messages) and state.messages[position].role == "system":
            position += 1
        state.messages.insert(position, ChatMessage(role="system", content=content))
        return state

    return solve


@solver
def prompt_template(template: str, **params: Any) -> Solver:
    """Rewrite the last user message with `template`: `{prompt}` is the message itself, the
    other fields come from the state's metadata and `params`."""
    template_fields(template, "prompt_template")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        fields = {**state.metadata, **params, "prompt": state.user_prompt}
        state.user_prompt = render(template, fields, "prompt_template")
        return state

    return solve


@solver
def generate(**params: Any) -> Solver:
    """Call the model (running the tool loop): `params` are `Generate`'s call options
    (tool_calls, max_turns) and sampling parameters (temperature, max_tokens, ...)."""
    check_params({k: v for k, v in params.items() if k not in _LOOP_OPTIONS}, "generate()")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        return await generate(state, **params)

    return solve


_LOOP_OPTIONS = ("tool_calls", "max_turns")


@solver
def chain_of_thought(template: str = DEFAULT_COT_TEMPLATE) -> Solver:
    """Rewrite the prompt to ask for step-by-step reasoning (`{prompt}` is the prompt)."""
    if "prompt" not in template_fields(template, "chain_of_thought"):
        raise TemplateError("chain_of_thought: the template must contain {prompt}")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        fields = {**state.metadata, "prompt": state.user_prompt}
        state.user_prompt = render(template, fields, "chain_of_thought")
        return state

    return solve


@solver
def self_critique(
    critique_template: str = DEFAULT_CRITIQUE_TEMPLATE,
    completion_template: str = DEFAULT_COMPLETION_TEMPLATE,
    **params: Any,
) -> Solver:
    """Ask the model to critique the current answer (a separate one-message conversation,
    filled with `{question}` and `{completion}`), keep the critique in
    `state.store["critique"]`, then append `completion_template` (which may also use
    `{critique}`) to the conversation and generate the revised answer."""
    template_fields(critique_template, "self_critique critique_template")
    template_fields(completion_template, "self_critique completion_template")
    check_params(params, "self_critique")

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.output is None:
            raise SolverError(
                "self_critique: there is no answer to critique yet; put generate() before it"
            )
        fields = {
            **state.metadata,
            "question": state.user_prompt,
            "completion": state.completion,
        }
        asked = render(critique_template, fields, "self_critique critique_template")
        critique = await generate.complete(
            state, [ChatMessage(role="user", content=asked)], **params
        )
        state.store["critique"] = critique.content
        fields["critique"] = critique.content
        revise = render(completion_template, fields, "self_critique completion_template")
        state.messages.append(ChatMessage(role="user", content=revise))
        return await generate(state, **params)

    return solve


@solver
def use_tools(*tools: Tool | Callable[..., Any]) -> Solver:
    """Offer tools to the model in the `generate` calls that follow. Plain functions become
    tools (`Tool(fn)`); a tool named like one the state already has replaces it."""
    offered = as_tools(tools)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        names = {t.name for t in offered}
        state.tools = [t for t in state.tools if t.name not in names] + offered
        return state

    return solve
