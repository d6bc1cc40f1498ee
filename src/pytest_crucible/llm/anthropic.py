"""`AnthropicBackend`: Anthropic's Messages API (POST {base_url}/v1/messages).

    backend = AnthropicBackend()             # needs ANTHROPIC_API_KEY in the environment
    answer = backend.chat("claude-3-5-haiku-20241022", "Name three colours.", max_tokens=64)

How a `ModelRequest` maps to the Messages API: system messages are joined into the top-level
`system`; an assistant message's tool calls become `tool_use` blocks; tool answers become
`tool_result` blocks in a user message (consecutive ones share one message); tools are sent
with `input_schema`. `seed` is not sent (the API has none). In the answer, text blocks are
joined into `content` and `tool_use` blocks become `ToolCall`s; `stop_reason` is normalised
("end_turn"/"stop_sequence" -> "stop", "max_tokens" -> "length", "tool_use" -> "tool_calls").
Input tokens include cache writes and reads (`cache_creation_input_tokens`,
`cache_read_input_tokens`), so a cost from the price table is an upper bound when prompt
caching is on.

`base_url` may end with or without "/v1" ("https://api.anthropic.com" or ".../v1").
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

__all__ = ["AnthropicBackend"]

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}
_INPUT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class AnthropicBackend(HTTPBackend):
    """The Messages API. Arguments as for `OpenAICompatibleBackend`, plus `anthropic_version`
    (the `anthropic-version` header). An API key is required: the call fails with a message
    naming `api_key_env` when that variable is not set."""

    name = "anthropic"
    key_required = True
    key_description = "your Anthropic API key"

    def __init__(
        self,
        base_url: str = "https://api.anthropic.com",
        api_key_env: str = "ANTHROPIC_API_KEY",
        anthropic_version: str = "2023-06-01",
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
        self.anthropic_version = anthropic_version
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
        if self.base_url.partition("?")[0].rstrip("/").endswith("/v1"):
            return join_url(self.base_url, "messages")
        return join_url(self.base_url, "v1/messages")

    def _auth_headers(self, key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": self.anthropic_version}
        if key is not None:
            headers["x-api-key"] = key
        return headers

    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        system = [m.content for m in request.messages if m.role == "system"]
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": _messages(request.messages),
            "temperature": request.temperature,
        }
        if system:
            body["system"] = "\n\n".join(system)
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        body.update(request.extra)
        return body

    def _parse(self, data: dict[str, Any]) -> Parsed:
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise BadResponse(_not_a_message(data))
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(str(block.get("text", "")))
            elif kind == "tool_use":
                calls.append(_tool_call(block))
        reason = data.get("stop_reason")
        return Parsed(
            content="".join(texts),
            finish_reason=None if reason is None else _FINISH.get(str(reason), str(reason)),
            usage=_usage(data.get("usage")),
            tool_calls=tuple(calls),
            model=data.get("model") if isinstance(data.get("model"), str) else None,
        )


def _messages(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for number, message in enumerate(messages, 1):
        if message.role == "system":
            continue
        if message.role == "tool":
            if not message.tool_call_id:
                raise BadResponse(
                    f"message {number} has role 'tool' but no tool_call_id",
                    "set tool_call_id to the id of the ToolCall (tool_use block) it answers",
                )
            result = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
            }
            if out and out[-1]["role"] == "user" and _is_tool_results(out[-1]["content"]):
                out[-1]["content"].append(result)
            else:
                out.append({"role": "user", "content": [result]})
        elif message.role == "assistant" and message.tool_calls:
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in message.tool_calls
            )
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def _is_tool_results(content: Any) -> bool:
    return isinstance(content, list) and all(
        isinstance(block, dict) and block.get("type") == "tool_result" for block in content
    )


def _tool_call(block: dict[str, Any]) -> ToolCall:
    name = block.get("name")
    if not isinstance(name, str):
        raise BadResponse(f"a tool_use block has no name: {json.dumps(block)[:200]!r}")
    return ToolCall(
        id=str(block.get("id") or ""),
        name=name,
        arguments=parse_arguments(name, block.get("input")),
    )


def _usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        input_tokens=sum(int(usage.get(field) or 0) for field in _INPUT_FIELDS),
        output_tokens=int(usage.get("output_tokens") or 0),
    )


def _not_a_message(data: dict[str, Any]) -> str:
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return f"the API answered with an error instead of a message: {error['message']!r}"
    return f"the answer has no content blocks: {json.dumps(data)[:200]!r}"
