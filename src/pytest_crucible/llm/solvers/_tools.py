"""Tools: Python callables the model may call, with a JSON schema built from their signature."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union, overload

from pydantic import BaseModel

from pytest_crucible.llm.solvers._errors import ToolError
from pytest_crucible.llm.types import ChatMessage, ToolCall, ToolSpec

__all__ = ["Tool", "as_tools", "run_tool_calls", "tool"]

_SIMPLE: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


class Tool:
    """A callable (sync or async) the model may call, with the `ToolSpec` it is offered as.

    The spec is built from the signature unless one is given: the name is the function's, the
    description the docstring's first paragraph (parameters described in an `Args:` section),
    and each parameter's type hint becomes its JSON schema (str, int, float, bool, None,
    Literal, list/tuple/dict of those, and `X | None`). Calling the tool calls the function.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        spec: ToolSpec | None = None,
    ) -> None:
        if not callable(fn):
            raise ToolError(f"Tool({fn!r:.60}): a tool is a function (sync or async)")
        self.fn = fn
        if spec is None:
            spec = spec_from_signature(fn, name=name, description=description)
        elif name is not None or description is not None:
            spec = spec.model_copy(
                update={"name": name or spec.name, "description": description or spec.description}
            )
        self.spec = spec

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    async def run(self, arguments: Mapping[str, Any]) -> str:
        """Call the tool with the model's arguments and give its result as text (a string as
        it is, anything else as JSON when it can be, else `str()`)."""
        result = self.fn(**arguments)
        if inspect.isawaitable(result):
            result = await result
        return result_text(result)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, spec: ToolSpec | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    spec: ToolSpec | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a function a `Tool`: `@tool` or `@tool(name=..., description=..., spec=...)`."""
    if fn is not None:
        return Tool(fn)

    def wrap(function: Callable[..., Any]) -> Tool:
        return Tool(function, name=name, description=description, spec=spec)

    return wrap


def as_tools(tools: Iterable[Tool | Callable[..., Any]]) -> list[Tool]:
    """Tools from tools or plain functions; two tools with one name are an error."""
    result = [t if isinstance(t, Tool) else Tool(t) for t in tools]
    names = [t.name for t in result]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ToolError(
            f"tool names repeat: {repeated}; give one of them another name with "
            "Tool(fn, name=...) or @tool(name=...)"
        )
    return result


def result_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    try:
        return json.dumps(result)
    except (TypeError, ValueError):
        return str(result)


async def run_tool_calls(tools: Sequence[Tool], calls: Sequence[ToolCall]) -> list[ChatMessage]:
    """Run the calls concurrently and answer each with a tool message, in the calls' order.

    A tool that raises, an unknown tool and bad arguments give the model an error message as
    the tool's result instead of ending the loop."""
    by_name = {t.name: t for t in tools}
    results = await asyncio.gather(*(_run_one(by_name, call) for call in calls))
    return [
        ChatMessage(role="tool", content=text, tool_call_id=call.id, name=call.name)
        for call, text in zip(calls, results, strict=True)
    ]


async def _run_one(tools: Mapping[str, Tool], call: ToolCall) -> str:
    found = tools.get(call.name)
    if found is None:
        available = ", ".join(sorted(tools)) or "none"
        return f"Error: there is no tool named {call.name!r}; the tools are: {available}."
    try:
        inspect.signature(found.fn).bind(**call.arguments)
    except TypeError as exc:
        return f"Error: bad arguments for tool {call.name!r}: {exc}."
    except ValueError:  # no signature (a builtin): let the call tell
        pass
    try:
        return await found.run(call.arguments)
    except Exception as exc:
        return f"Error: tool {call.name!r} raised {type(exc).__name__}: {exc}"


def spec_from_signature(
    fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> ToolSpec:
    """A `ToolSpec` from a function's name, docstring and type hints."""
    tool_name = name or getattr(fn, "__name__", None) or type(fn).__name__
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolError(
            f"tool {tool_name!r}: cannot read its signature ({exc}); "
            "pass an explicit spec: Tool(fn, spec=ToolSpec(...))"
        ) from None
    summary, documented = _parse_docstring(inspect.getdoc(fn) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            raise ToolError(
                f"tool {tool_name!r}: parameter {param.name!r} is positional-only or *args; "
                "the model passes arguments by name"
            )
        hint = hints.get(param.name, Any)
        try:
            schema = json_schema(hint)
        except TypeError as exc:
            raise ToolError(
                f"tool {tool_name!r}: parameter {param.name!r}: {exc}; use str, int, float, "
                "bool, Literal, list/dict of those, or pass Tool(fn, spec=ToolSpec(...))"
            ) from None
        if param.name in documented:
            schema["description"] = documented[param.name]
        properties[param.name] = schema
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return ToolSpec(name=tool_name, description=description or summary, parameters=parameters)


def json_schema(hint: Any) -> dict[str, Any]:
    """The JSON schema of a simple type hint; TypeError for types it does not know."""
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if hint is None or hint is type(None):
        return {"type": "null"}
    if hint in _SIMPLE:
        return {"type": _SIMPLE[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        schema: dict[str, Any] = {"enum": list(args)}
        kinds = {_SIMPLE.get(type(a)) for a in args}
        if len(kinds) == 1 and None not in kinds:
            schema["type"] = kinds.pop()
        return schema
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            return json_schema(options[0])
        return {"anyOf": [json_schema(a) for a in args]}
    if hint in (list, tuple, set, frozenset) or origin in (list, tuple, set, frozenset):
        items = [a for a in args if a is not Ellipsis]
        return {"type": "array", "items": json_schema(items[0])} if items else {"type": "array"}
    if hint is dict or origin is dict:
        if len(args) == 2:
            return {"type": "object", "additionalProperties": json_schema(args[1])}
        return {"type": "object"}
    raise TypeError(f"no JSON schema for type {getattr(hint, '__name__', hint)!r}")


_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.+)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and `name: description` lines of an `Args:` section."""
    summary = doc.split("\n\n", 1)[0].strip().replace("\n", " ")
    params: dict[str, str] = {}
    in_args, last = False, ""
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
        elif not in_args:
            continue
        elif not stripped or not line.startswith((" ", "\t")):
            in_args = False
        elif match := _ARG_LINE.match(line):
            last = match.group(1).lstrip("*")
            params[last] = match.group(2).strip()
        elif last:  # a continuation line
            params[last] += " " + stripped
    return summary, params
