"""The model-call data model every backend, solver and cache shares.

A backend takes a `ModelRequest` (messages, tools, sampling parameters) and returns a
`ModelResponse` (content, finish reason, token usage, tool calls, latency, raw JSON). Both are
frozen pydantic models so that they serialise to JSON for the call cache and the store.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Backend",
    "ChatMessage",
    "ModelRequest",
    "ModelResponse",
    "Role",
    "ToolCall",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCall(_Frozen):
    """A call the model asked for: `arguments` is already parsed from JSON."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(_Frozen):
    """One message of a conversation. `tool_calls` on assistant messages, `tool_call_id` on
    the tool's answer."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


class ToolSpec(_Frozen):
    """A tool the model may call: a name, a description and a JSON schema of parameters."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Usage(_Frozen):
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class ModelRequest(_Frozen):
    """Everything that determines a model's answer (and so the call cache key)."""

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    # Backend-specific extras sent as they are (e.g. {"response_format": {...}}).
    extra: dict[str, Any] = Field(default_factory=dict)


class ModelResponse(_Frozen):
    model: str
    content: str
    finish_reason: str | None = None
    usage: Usage = Usage()
    tool_calls: tuple[ToolCall, ...] = ()
    latency_s: float = 0.0  # the HTTP attempt that succeeded
    # the whole call, retries and their waits included; a replayed call reports it again
    duration_s: float | None = None
    attempts: int = 1
    cached: bool = False
    # USD by the backend's price table; None when the model has no price
    cost_usd: float | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A model behind an API. `generate` and `agenerate` do the same call, sync and async."""

    name: str  # e.g. "openai-compatible", "anthropic"

    def generate(self, request: ModelRequest) -> ModelResponse: ...

    async def agenerate(self, request: ModelRequest) -> ModelResponse: ...
