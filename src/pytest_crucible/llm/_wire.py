"""The pieces of a model call that do not depend on the backend object: what a backend's
parser returns or raises, tool-call arguments, request building, and the text of errors
(messages quoted from error bodies, with the API key masked out).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pydantic

from pytest_crucible.llm.types import ChatMessage, ModelRequest, ToolCall, ToolSpec, Usage

__all__ = [
    "REDACTED",
    "BadResponse",
    "Parsed",
    "Prompt",
    "api_message",
    "build_request",
    "credentials",
    "excerpt",
    "first_line",
    "join_url",
    "parse_arguments",
    "redact",
    "redact_url",
    "timeout_phase",
]

REDACTED = "[REDACTED]"
EXCERPT = 200  # characters of a response body quoted in an error

Prompt = str | Sequence[ChatMessage | Mapping[str, Any]]


class BadResponse(Exception):
    """Raised by a backend's `_parse`: the JSON is not the response it should be."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


@dataclass(frozen=True)
class Parsed:
    content: str
    finish_reason: str | None
    usage: Usage
    tool_calls: tuple[ToolCall, ...]
    model: str | None


def build_request(model: str, prompt: Prompt, params: dict[str, Any]) -> ModelRequest:
    params = dict(params)
    system = params.pop("system", None)
    if isinstance(prompt, str):
        messages = [ChatMessage(role="user", content=prompt)]
    else:
        messages = [
            item if isinstance(item, ChatMessage) else ChatMessage.model_validate(item)
            for item in prompt
        ]
    if system is not None:
        messages.insert(0, ChatMessage(role="system", content=system))
    if not messages:
        raise ValueError("no messages: give a prompt string or at least one message")
    if isinstance(params.get("stop"), str):
        params["stop"] = (params["stop"],)
    if "tools" in params:
        params["tools"] = tuple(
            tool if isinstance(tool, ToolSpec) else ToolSpec.model_validate(tool)
            for tool in params["tools"]
        )
    return ModelRequest(model=model, messages=tuple(messages), **params)


def parse_arguments(name: str, arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict: a JSON object in a string (OpenAI) or a dict."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BadResponse(
            f"the model called tool {name!r} with arguments that are not a JSON object: "
            f"{excerpt(str(arguments))!r}",
            "the model produced malformed tool arguments: give the tool a simpler schema, "
            "retry with another seed or temperature, or use a stronger model",
        )
    return value


def api_message(answer: httpx.Response, secrets: str | Iterable[str] | None) -> str:
    """The error message an API put in its error body, or the start of the body."""
    text = redact(answer.content.decode("utf-8", errors="replace"), secrets)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return excerpt(message)
    return repr(excerpt(text)) if text.strip() else "(empty body)"


def redact(text: str, secrets: str | Iterable[str] | None) -> str:
    """`text` with every one of `secrets` (a key, or the `credentials` of a call) masked."""
    if not secrets:
        return text
    for secret in (secrets,) if isinstance(secrets, str) else secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


# Header and query parameter names that carry credentials: Authorization,
# Proxy-Authorization, x-api-key, api-key, x-goog-api-key, access_token, key, Cookie...
_CREDENTIAL_NAME = re.compile(r"auth|key|token|secret|passw|cookie|signature|credential", re.I)
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#]+)=([^&;#]*)")
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", re.I)
# Shorter values are not masked in free text (answers, error bodies): replacing every "test"
# or "1" in a model's answer would corrupt results, and no real credential is that short.
MIN_SECRET = 8


def credentials(headers: Mapping[str, str], url: str) -> tuple[str, ...]:
    """The credential values a backend sends besides its environment key: credential-bearing
    headers (and the token after a scheme, "Bearer sk-..."), credential query parameters and
    a password in the URL. Texts quoted from a call mask them (`redact`)."""
    values: list[str] = []
    for name, value in headers.items():
        if _CREDENTIAL_NAME.search(name):
            values.append(value.strip())
            values.extend(value.split()[1:])  # "Bearer sk-..." -> "sk-..." (servers quote it)
    values.extend(value for name, value in _query_pairs(url) if _CREDENTIAL_NAME.search(name))
    if (found := _USERINFO.match(url)) is not None:
        values.append(url[len(found.group(1)) + 1 : found.end() - 1])
    unique = dict.fromkeys(v for v in values if len(v) >= MIN_SECRET)
    return tuple(sorted(unique, key=len, reverse=True))  # longest first: "Bearer x" before x


def _query_pairs(url: str) -> list[tuple[str, str]]:
    query = url.partition("?")[2]
    return [(m.group(2), m.group(3)) for m in _QUERY_PAIR.finditer("?" + query)] if query else []


def redact_url(url: str) -> str:
    """`url` as it may be quoted: credential query values and a password masked."""
    url = _USERINFO.sub(rf"\1:{REDACTED}@", url)
    if "?" not in url:
        return url
    base, _, query = url.partition("?")

    def mask(found: re.Match[str]) -> str:
        sep, name, value = found.groups()
        return f"{sep}{name}={REDACTED if _CREDENTIAL_NAME.search(name) else value}"

    return base + _QUERY_PAIR.sub(mask, "?" + query)


def join_url(base: str, path: str) -> str:
    """`base` + "/" + `path`, the path going before a query ("...v1?key=K" + "chat" is
    "...v1/chat?key=K", as APIs that take the key in the query expect)."""
    root, mark, query = base.partition("?")
    return f"{root.rstrip('/')}/{path}{mark}{query}"


def excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def first_line(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def timeout_phase(exc: BaseException) -> str | None:
    """ "connect", "read", "write" or "pool" when `exc` is a timeout, else None."""
    if isinstance(exc, aiohttp.ClientError):
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return "connect"
        return "read" if isinstance(exc, aiohttp.ServerTimeoutError) else None
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect"
    if isinstance(exc, httpx.WriteTimeout):
        return "write"
    if isinstance(exc, httpx.PoolTimeout):
        return "pool"
    return "read" if isinstance(exc, httpx.TimeoutException | TimeoutError) else None
