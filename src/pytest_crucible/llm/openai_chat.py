"""A minimal OpenAI-compatible chat client: one request, one answer, no retries.

`chat()` and `achat()` POST to `{base_url}/chat/completions` and return the first choice's
message content. Sampling is deterministic by default (temperature 0, seed 0). HTTP errors
surface as `httpx.HTTPStatusError`, network failures as `httpx.TransportError`; a response
that is not a chat completion raises `CrucibleError`. Pass `client=` to reuse connections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ..errors import CrucibleError

__all__ = ["Message", "achat", "chat", "chat_payload"]

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
    timeout: float = 60.0,
    client: httpx.Client | None = None,
) -> str:
    """Ask `model` at `base_url` (e.g. "http://127.0.0.1:8080/v1") and return the answer."""
    url = _endpoint(base_url)
    body = chat_payload(model, messages, max_tokens=max_tokens, temperature=temperature, seed=seed)
    if client is None:
        with httpx.Client() as own:
            response = own.post(url, json=body, timeout=timeout)
    else:
        response = client.post(url, json=body, timeout=timeout)
    return _answer(url, response)


async def achat(
    base_url: str,
    model: str,
    messages: Sequence[Message],
    *,
    max_tokens: int = 32,
    temperature: float = 0.0,
    seed: int = 0,
    timeout: float = 60.0,
    client: httpx.AsyncClient | None = None,
) -> str:
    """The async twin of `chat()`."""
    url = _endpoint(base_url)
    body = chat_payload(model, messages, max_tokens=max_tokens, temperature=temperature, seed=seed)
    if client is None:
        async with httpx.AsyncClient() as own:
            response = await own.post(url, json=body, timeout=timeout)
    else:
        response = await client.post(url, json=body, timeout=timeout)
    return _answer(url, response)


def _endpoint(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def _answer(url: str, response: httpx.Response) -> str:
    response.raise_for_status()
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise CrucibleError(
            f"{url} did not return a chat completion: {response.text[:200]!r}"
        ) from exc
    if not isinstance(content, str):
        raise CrucibleError(f"{url} returned non-text content: {content!r}")
    return content
