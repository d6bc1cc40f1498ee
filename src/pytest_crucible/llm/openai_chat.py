"""A one-line OpenAI-compatible chat: `chat()` / `achat()` return the answer's text.

They POST to `{base_url}/chat/completions` through `OpenAICompatibleBackend` (so with its
retries, its errors and the trial's call context: cache, replay, usage) and return the first
choice's content. Sampling is deterministic by default (temperature 0, seed 0). No API key is
sent: these are for local and other key-less servers; use `OpenAICompatibleBackend` for the
rest. Failures raise `ModelCallError` (see `pytest_crucible.llm.errors`). Pass `client=` to
reuse your own httpx client's connections (its own timeout then applies); otherwise each
call opens and closes its own.

Defaults: `max_tokens=32` (a short answer: an answer cut there has finish reason "length",
and inside a trial the cut answers are counted and warned about per condition), temperature
0, seed 0, and `timeout=None`: 60 s, or the timeout of the `local_server()` at `base_url`
when one runs in this process (`LocalServer.timeout_s`, 300 s by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from pytest_crucible.errors import CrucibleError
from pytest_crucible.llm.openai_compat import OpenAICompatibleBackend
from pytest_crucible.llm.retry import RetryPolicy
from pytest_crucible.llm.types import ChatMessage, ModelRequest
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Message", "achat", "chat", "chat_payload"]

__tracebackhide__ = hide_library_frames

Message = Mapping[str, str]


def chat_payload(
    model: str,
    messages: Sequence[Message],
    *,
    max_tokens: int = 32,
    temperature: float = 0.0,
    seed: int = 0,
) -> dict[str, Any]:
    """The JSON body of a `/chat/completions` request."""
    if not messages:
        raise CrucibleError("chat() needs at least one message")
    return {
        "model": model,
        "messages": [dict(message) for message in messages],
        "max_tokens": max_tokens,
        "temperature": temperature,
        "seed": seed,
        "stream": False,
    }


def chat(
    base_url: str,
    model: str,
    messages: Sequence[Message],
    *,
    max_tokens: int = 32,
    temperature: float = 0.0,
    seed: int = 0,
    timeout: float | None = None,
    client: httpx.Client | None = None,
    retry: RetryPolicy | None = None,
) -> str:
    """Ask `model` at `base_url` (e.g. "http://127.0.0.1:8080/v1") and return the answer."""
    request = _request(model, messages, max_tokens, temperature, seed)
    with _backend(base_url, timeout, retry, client=client) as backend:
        return backend.generate(request).content


async def achat(
    base_url: str,
    model: str,
    messages: Sequence[Message],
    *,
    max_tokens: int = 32,
    temperature: float = 0.0,
    seed: int = 0,
    timeout: float | None = None,
    client: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
) -> str:
    """The async twin of `chat()`."""
    request = _request(model, messages, max_tokens, temperature, seed)
    async with _backend(base_url, timeout, retry, async_client=client) as backend:
        return (await backend.agenerate(request)).content


def _request(
    model: str, messages: Sequence[Message], max_tokens: int, temperature: float, seed: int
) -> ModelRequest:
    if not messages:
        raise CrucibleError("chat() needs at least one message")
    return ModelRequest(
        model=model,
        messages=tuple(ChatMessage.model_validate(dict(message)) for message in messages),
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
    )


def _backend(
    base_url: str,
    timeout: float | None,
    retry: RetryPolicy | None,
    *,
    client: httpx.Client | None = None,
    async_client: httpx.AsyncClient | None = None,
) -> OpenAICompatibleBackend:
    return OpenAICompatibleBackend(
        base_url,
        api_key_env=None,
        timeout=timeout,
        retry=retry,
        connect_timeout=None,
        max_connections=8,
        client=client,
        async_client=async_client,
    )
