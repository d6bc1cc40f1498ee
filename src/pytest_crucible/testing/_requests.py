"""Validate chat requests like the real APIs do, and reduce them to what the answer depends on."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ChatRequest",
    "RequestError",
    "last_user_text",
    "parse_anthropic",
    "parse_gemini",
    "parse_openai",
]

Api = Literal["openai", "anthropic", "gemini"]
OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
ANTHROPIC_ROLES = ("user", "assistant")
GEMINI_ROLES = ("user", "model")
_MAX_TEMPERATURE: dict[Api, float] = {"openai": 2.0, "anthropic": 1.0, "gemini": 2.0}


class RequestError(Exception):
    """A request a real server would reject with 400: `message` names the problem."""

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat request of either API."""

    api: Api
    model: str
    system: str
    messages: list[dict[str, Any]]
    last_user: str
    temperature: float
    seed: int | None
    max_tokens: int | None
    body: dict[str, Any]

    @property
    def digest(self) -> str:
        """A hash of what determines the answer: the seed counts only at temperature > 0."""
        sampled = self.temperature > 0
        key = {
            "model": self.model,
            "system": self.system,
            "messages": self.messages,
            "temperature": self.temperature if sampled else 0,
            "seed": self.seed if sampled else None,
        }
        text = json.dumps(key, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def prompt_words(self) -> int:
        texts = [self.system, *(text_of(m.get("content")) for m in self.messages)]
        return max(1, sum(len(t.split()) for t in texts))


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts (text, tool results)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict):
            if isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif part.get("type") == "tool_result":
                parts.append(text_of(part.get("content")))
    return "\n".join(p for p in parts if p)


def last_user_text(body: Any) -> str:
    """The text of the last user message of a request body; "" when there is none."""
    if isinstance(body, dict) and "messages" not in body and "contents" in body:
        return _gemini_last_user(body.get("contents"))
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, not {type(body).__name__}")
    return body


def _model(body: dict[str, Any], missing: str) -> str:
    model = body.get("model")
    if model is None:
        raise RequestError(missing, "model")
    if not isinstance(model, str) or not model:
        raise RequestError(f"'model' must be a non-empty string, got {model!r}", "model")
    return model


def _messages(body: dict[str, Any], roles: tuple[str, ...], missing: str) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        raise RequestError(missing, "messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array of message objects", "messages")
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise RequestError(f"{where} must be an object, got {message!r}", where)
        role = message.get("role")
        if role not in roles:
            raise RequestError(f"{where}.role must be one of {list(roles)}, got {role!r}", where)
        content = message.get("content")
        may_be_empty = role == "assistant" and (
            "tool_calls" in message or "function_call" in message
        )
        if content is None and not may_be_empty:
            raise RequestError(f"{where}.content is required", f"{where}.content")
        if content is not None and not isinstance(content, str | list):
            raise RequestError(f"{where}.content must be a string or an array of parts", where)
    return messages


def _number(body: dict[str, Any], name: str, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise RequestError(f"'{name}' must be a number, got {value!r}", name)
    if not low <= value <= high:
        raise RequestError(f"'{name}' must be between {low:g} and {high:g}, got {value!r}", name)
    return float(value)


def _count(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RequestError(f"'{name}' must be an integer >= 1, got {value!r}", name)
    return value


def _seed(body: dict[str, Any]) -> int | None:
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise RequestError(f"'seed' must be an integer, got {seed!r}", "seed")
    return seed


def _no_streaming(body: dict[str, Any]) -> None:
    if body.get("stream"):
        raise RequestError(
            "stream=true is not supported by MockModelServer; send the request without streaming",
            "stream",
        )


def parse_openai(body: Any) -> ChatRequest:
    """A `POST /v1/chat/completions` body, validated; raises `RequestError`."""
    body = _require_object(body)
    model = _model(body, "you must provide a model parameter ('model' is missing)")
    messages = _messages(body, OPENAI_ROLES, "Missing required parameter: 'messages'.")
    _no_streaming(body)
    n = body.get("n")
    if n is not None and n != 1:
        raise RequestError(f"'n'={n!r}: MockModelServer returns one choice; send n=1", "n")
    max_tokens = _count(body, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = _count(body, "max_tokens")
    return _chat_request("openai", body, model, "", messages, max_tokens)


def parse_anthropic(body: Any) -> ChatRequest:
    """A `POST /v1/messages` body, validated; raises `RequestError`."""
    body = _require_object(body)
    model = _model(body, "model: Field required")
    max_tokens = _count(body, "max_tokens")
    if max_tokens is None:
        raise RequestError("max_tokens: Field required", "max_tokens")
    messages = _messages(body, ANTHROPIC_ROLES, "messages: Field required")
    _no_streaming(body)
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise RequestError("system: must be a string or an array of text blocks", "system")
    return _chat_request("anthropic", body, model, text_of(system), messages, max_tokens)


def parse_gemini(body: Any, model: str) -> ChatRequest:
    """A `POST /v1beta/models/{model}:generateContent` body, validated; raises `RequestError`.
    The contents become OpenAI-like messages (role "model" -> "assistant", parts joined)."""
    body = _require_object(body)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise RequestError(
            "* GenerateContentRequest.contents: contents is not specified", "contents"
        )
    messages: list[dict[str, Any]] = []
    for index, content in enumerate(contents):
        where = f"contents[{index}]"
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise RequestError(f"{where} must be an object with a 'parts' array", where)
        role = content.get("role", "user")
        if role not in GEMINI_ROLES:
            raise RequestError(
                f"{where}.role must be one of {list(GEMINI_ROLES)}, got {role!r}", where
            )
        role = "assistant" if role == "model" else "user"
        messages.append({"role": role, "content": text_of(content["parts"])})
    system = body.get("systemInstruction")
    if system is not None and not (
        isinstance(system, dict) and isinstance(system.get("parts"), list)
    ):
        raise RequestError("systemInstruction must be an object with a 'parts' array", "system")
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise RequestError("generationConfig must be an object", "generationConfig")
    candidates = config.get("candidateCount")
    if candidates is not None and candidates != 1:
        raise RequestError(
            f"candidateCount={candidates!r}: MockModelServer returns one candidate; send 1",
            "generationConfig.candidateCount",
        )
    return ChatRequest(
        api="gemini",
        model=model,
        system=text_of((system or {}).get("parts")),
        messages=messages,
        last_user=_gemini_last_user(contents),
        temperature=_number(config, "temperature", 0.0, _MAX_TEMPERATURE["gemini"], 1.0),
        seed=_seed(config),
        max_tokens=_count(config, "maxOutputTokens"),
        body=body,
    )


def _gemini_last_user(contents: Any) -> str:
    if not isinstance(contents, list):
        return ""
    for content in reversed(contents):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            return text_of(content.get("parts"))
    return ""


def _chat_request(
    api: Api,
    body: dict[str, Any],
    model: str,
    system: str,
    messages: list[dict[str, Any]],
    max_tokens: int | None,
) -> ChatRequest:
    return ChatRequest(
        api=api,
        model=model,
        system=system,
        messages=messages,
        last_user=last_user_text(body),
        temperature=_number(body, "temperature", 0.0, _MAX_TEMPERATURE[api], 1.0),
        seed=_seed(body),
        max_tokens=max_tokens,
        body=body,
    )
