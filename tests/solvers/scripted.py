"""A scripted backend: answers from a queue and records the requests it received."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from pytest_crucible.llm.types import ModelRequest, ModelResponse, ToolCall, Usage

Reply = ModelResponse | str | Callable[[ModelRequest], "ModelResponse | str"]


def answer(text: str, *, tokens: tuple[int, int] = (10, 5)) -> ModelResponse:
    return ModelResponse(
        model="scripted-model",
        content=text,
        finish_reason="stop",
        usage=Usage(input_tokens=tokens[0], output_tokens=tokens[1]),
    )


def calls(*wanted: tuple[str, dict[str, Any]], tokens: tuple[int, int] = (10, 5)) -> ModelResponse:
    """A response asking for tool calls: `calls(("add", {"a": 1, "b": 2}), ...)`."""
    return ModelResponse(
        model="scripted-model",
        content="",
        finish_reason="tool_calls",
        usage=Usage(input_tokens=tokens[0], output_tokens=tokens[1]),
        tool_calls=tuple(
            ToolCall(id=f"call_{i}", name=name, arguments=args)
            for i, (name, args) in enumerate(wanted)
        ),
    )


class ScriptedBackend:
    """Replies in order (a str becomes an answer using 10 + 5 tokens); every request is kept."""

    name = "scripted"

    def __init__(self, *replies: Reply) -> None:
        self.replies: deque[Reply] = deque(replies)
        self.requests: list[ModelRequest] = []

    def generate(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"no scripted reply left for request {len(self.requests)}")
        reply = self.replies.popleft()
        if callable(reply):
            reply = reply(request)
        return answer(reply) if isinstance(reply, str) else reply

    async def agenerate(self, request: ModelRequest) -> ModelResponse:
        return self.generate(request)

    def texts(self, index: int) -> list[tuple[str, str]]:
        """(role, content) of each message of the index-th request."""
        return [(m.role, m.content) for m in self.requests[index].messages]
