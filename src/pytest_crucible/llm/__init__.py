"""Model access: backends for OpenAI-compatible, Anthropic and Gemini APIs, a local llama.cpp
server.

    backend = OpenAICompatibleBackend("http://127.0.0.1:8080/v1")
    response = backend.chat(model, "What is the capital of Japan?")      # or await achat(...)
    response.content, response.usage, backend.cost(response)

Backends take a `ModelRequest` and return a `ModelResponse` (`generate` / `agenerate`), retry
what is worth retrying (`RetryPolicy`), keep to rate limits (`RateLimit`), raise
`ModelCallError`s that say what to do, and read API keys from environment variables only.
`chat()` / `achat()` are one-line helpers that return the answer's text. See docs/models.md.

Importing this package stays cheap (the session imports `llm.context` on every run): the errors
load with it, every other name on first use (the pydantic models, httpx, aiohttp, tenacity),
and xllamacpp only when a local server is started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_crucible.llm.errors import (
    FailedAttempt,
    ModelAuthError,
    ModelCallError,
    ModelConfigError,
    ModelRequestError,
    ModelResponseError,
    ModelUnavailableError,
)
from pytest_crucible.util.lazy import LazyNames

if TYPE_CHECKING:
    from pytest_crucible.llm.anthropic import AnthropicBackend
    from pytest_crucible.llm.gemini import GeminiBackend
    from pytest_crucible.llm.local import LocalServer, find_model, local_server
    from pytest_crucible.llm.openai_chat import Message, achat, chat
    from pytest_crucible.llm.openai_compat import OpenAICompatibleBackend
    from pytest_crucible.llm.pricing import ModelPrice, PriceTable
    from pytest_crucible.llm.ratelimit import RateLimit, RateLimiter
    from pytest_crucible.llm.retry import RetryPolicy
    from pytest_crucible.llm.types import (
        Backend,
        ChatMessage,
        ModelRequest,
        ModelResponse,
        ToolCall,
        ToolSpec,
        Usage,
    )

__all__ = [
    "AnthropicBackend",
    "Backend",
    "ChatMessage",
    "FailedAttempt",
    "GeminiBackend",
    "LocalServer",
    "Message",
    "ModelAuthError",
    "ModelCallError",
    "ModelConfigError",
    "ModelPrice",
    "ModelRequest",
    "ModelRequestError",
    "ModelResponse",
    "ModelResponseError",
    "ModelUnavailableError",
    "OpenAICompatibleBackend",
    "PriceTable",
    "RateLimit",
    "RateLimiter",
    "RetryPolicy",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "achat",
    "chat",
    "find_model",
    "local_server",
]

_LAZY = LazyNames(
    __name__,
    {
        **dict.fromkeys(("LocalServer", "find_model", "local_server"), ".local"),
        **dict.fromkeys(("ModelPrice", "PriceTable"), ".pricing"),
        **dict.fromkeys(
            (
                "Backend",
                "ChatMessage",
                "ModelRequest",
                "ModelResponse",
                "ToolCall",
                "ToolSpec",
                "Usage",
            ),
            ".types",
        ),
        "AnthropicBackend": ".anthropic",
        "GeminiBackend": ".gemini",
        "Message": ".openai_chat",
        "OpenAICompatibleBackend": ".openai_compat",
        "RateLimit": ".ratelimit",
        "RateLimiter": ".ratelimit",
        "RetryPolicy": ".retry",
        "achat": ".openai_chat",
        "chat": ".openai_chat",
    },
)


def __getattr__(name: str) -> Any:
    value = _LAZY.get(name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


__dir__ = _LAZY.names
