"""`OpenAICompatibleBackend`: POST {base_url}/chat/completions, as OpenAI, llama.cpp, vLLM,
Ollama and most model servers speak it.

    backend = OpenAICompatibleBackend()                          # api.openai.com, OPENAI_API_KEY
    local = OpenAICompatibleBackend("http://127.0.0.1:8080/v1")  # no key needed
    answer = local.chat("SmolLM2-135M-Instruct", "What is the capital of Japan?")
    answer.content, answer.usage, answer.latency_s

The key is read from the environment variable `api_key_env` (default OPENAI_API_KEY) at each
call and sent as `Authorization: Bearer ...`; when it is unset, no key is sent (local servers
need none). Mind that a set OPENAI_API_KEY is sent to whatever `base_url` says: give another
server its own variable (`api_key_env="MY_SERVER_KEY"`) or none (`api_key_env=None`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from pytest_crucible.llm._backend import HTTPBackend
from pytest_crucible.llm._http import AsyncTransport
from pytest_crucible.llm._wire import BadResponse, Parsed, join_url, parse_arguments
from pytest_crucible.llm.pricing import PriceTable
from pytest_crucible.llm.ratelimit import RateLimitSpec
from pytest_crucible.llm.retry import RetryPolicy
from pytest_crucible.llm.types import ChatMessage, ModelRequest, ToolCall, Usage

__all__ = ["OpenAICompatibleBackend"]

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
_FINISH_ALIASES = {"function_call": "tool_calls", "eos": "stop", "max_tokens": "length"}


class OpenAICompatibleBackend(HTTPBackend):
    """A chat-completions API. `timeout` bounds reads, writes and waiting for a pooled
    connection (None: 60 s, or the timeout of the `local_server()` at `base_url` when one
    runs in this process), `connect_timeout` opening one; `retry` is the `RetryPolicy`; `prices` a
    `PriceTable` for `cost()` (default: the built-in table); `default_headers` are sent with
    every request; `client` / `async_client` are your own httpx clients to use (never closed
    by the backend); `rate_limit` a `RateLimit` (or a dict of them by model name) that every
    call of this backend object goes through."""

    name = "openai-compatible"
    key_required = False
    key_description = "your API key"

    def __init__(
        self,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 256,
        prices: PriceTable | None = None,
        default_headers: Mapping[str, str] | None = None,
        *,
        connect_timeout: float | None = 10.0,
        async_transport: AsyncTransport = "aiohttp",
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        rate_limit: RateLimitSpec = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            api_key_env=api_key_env,
            timeout=timeout,
            connect_timeout=connect_timeout,
            retry=retry,
            max_connections=max_connections,
            prices=prices,
            default_headers=default_headers,
            async_transport=async_transport,
            client=client,
            async_client=async_client,
            rate_limit=rate_limit,
        )

    def _endpoint(self) -> str:
        return join_url(self.base_url, "chat/completions")

    def _auth_headers(self, key: str | None) -> dict[str, str]:
        return {} if key is None else {"authorization": f"Bearer {key}"}

    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(number, m) for number, m in enumerate(request.messages, 1)],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": False,
        }
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
        body.update(request.extra)
        return body

    def _parse(self, data: dict[str, Any]) -> Parsed:
        try:
            choice = data["choices"][0]
            message = choice["message"]
        except (KeyError, IndexError, TypeError):
            raise BadResponse(_not_a_completion(data)) from None
        content = message.get("content") if isinstance(message, dict) else None
        if content is not None and not isinstance(content, str):
            raise BadResponse(f"the message content is not text: {str(content)[:200]!r}")
        reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        return Parsed(
            content=content or "",
            finish_reason=_finish(reason),
            usage=_usage(data.get("usage")),
            tool_calls=_tool_calls(message.get("tool_calls") if isinstance(message, dict) else ()),
            model=data.get("model") if isinstance(data.get("model"), str) else None,
        )


def _message(number: int, message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.role == "tool":
        if not message.tool_call_id:
            raise BadResponse(
                f"message {number} has role 'tool' but no tool_call_id",
                "set tool_call_id to the id of the ToolCall that the message answers",
            )
        out["tool_call_id"] = message.tool_call_id
    return out


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    text = str(reason)
    return _FINISH.get(text) or _FINISH_ALIASES.get(text) or text


def _usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
    )


def _tool_calls(calls: Any) -> tuple[ToolCall, ...]:
    if not calls:
        return ()
    parsed = []
    for call in calls:
        try:
            function = call["function"]
            name = function["name"]
            arguments = parse_arguments(name, function.get("arguments"))
            parsed.append(ToolCall(id=str(call.get("id") or ""), name=name, arguments=arguments))
        except (KeyError, TypeError, AttributeError):
            raise BadResponse(f"a tool call is not well formed: {str(call)[:200]!r}") from None
    return tuple(parsed)


def _not_a_completion(data: dict[str, Any]) -> str:
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return f"the API answered with an error instead of a completion: {error['message']!r}"
    return f"the answer has no choices[0].message: {json.dumps(data)[:200]!r}"
