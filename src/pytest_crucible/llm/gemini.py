"""`GeminiBackend`: Google's Generative Language API, natively
(POST {base_url}/v1beta/models/{model}:generateContent).

    backend = GeminiBackend()                # needs GEMINI_API_KEY (or GOOGLE_API_KEY)
    answer = backend.chat("gemini-2.0-flash", "Name three colours.", max_tokens=64)

How a `ModelRequest` maps to generateContent: system messages are joined into
`systemInstruction`; user messages become `contents` with role "user", assistant messages
role "model"; `temperature`, `max_tokens`, `top_p`, `stop` and `seed` go into
`generationConfig` (as temperature, maxOutputTokens, topP, stopSequences, seed, with
candidateCount 1); `extra` is merged into the body (e.g. `safetySettings`). Tools are not
sent yet: a request with tools or tool messages fails before anything is sent.

In the answer, the first candidate's text parts are joined into `content`; `finishReason`
is normalised ("STOP" -> "stop", "MAX_TOKENS" -> "length", safety and recitation blocks ->
"content_filter"). A prompt or an answer blocked by the safety filters with no text at all
raises a `ModelResponseError` that says so. Output tokens include a thinking model's
`thoughtsTokenCount` (billed as output).

The key goes in the `x-goog-api-key` header, never in the URL (a URL lands in logs). It is
the constructor's `api_key`, else `$GEMINI_API_KEY`, else `$GOOGLE_API_KEY`, read at call time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from pytest_crucible.llm._backend import HTTPBackend
from pytest_crucible.llm._failures import Failures
from pytest_crucible.llm._gemini_errors import GeminiFailures
from pytest_crucible.llm._http import AsyncTransport
from pytest_crucible.llm._wire import BadResponse, Parsed, join_url
from pytest_crucible.llm.pricing import PriceTable
from pytest_crucible.llm.ratelimit import RateLimitSpec
from pytest_crucible.llm.retry import RetryPolicy
from pytest_crucible.llm.types import ChatMessage, ModelRequest, Usage

__all__ = ["GeminiBackend"]

FALLBACK_KEY_ENV = "GOOGLE_API_KEY"
_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
_BLOCK_HINT = (
    "rephrase the prompt, or relax the filters with extra={'safetySettings': [...]} where "
    "that is appropriate; retrying the same request will not help"
)


class GeminiBackend(HTTPBackend):
    """The Generative Language API. Arguments as for `OpenAICompatibleBackend`, plus `api_key`
    (used before the environment; never shown, logged or stored) and `api_version` (the
    path's version, "v1beta"). `base_url` may already end with the version."""

    name = "gemini"
    key_required = True
    key_description = (
        f"your Gemini API key (from Google AI Studio; {FALLBACK_KEY_ENV} is read when it is unset)"
    )

    def __init__(
        self,
        base_url: str = "https://generativelanguage.googleapis.com",
        api_key_env: str = "GEMINI_API_KEY",
        timeout: float | httpx.Timeout | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 256,
        prices: PriceTable | None = None,
        default_headers: Mapping[str, str] | None = None,
        *,
        api_key: str | None = None,
        api_version: str = "v1beta",
        connect_timeout: float | None = 10.0,
        async_transport: AsyncTransport = "aiohttp",
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
        rate_limit: RateLimitSpec = None,
    ) -> None:
        self.api_version = api_version.strip("/")
        self._key = _Secret(api_key) if api_key else None
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
        root = self.base_url.partition("?")[0].rstrip("/")
        path = "models/{model}:generateContent"
        if root.endswith("/" + self.api_version):
            return join_url(self.base_url, path)
        return join_url(self.base_url, f"{self.api_version}/{path}")

    def _request_url(self, request: ModelRequest) -> str:
        model = request.model.removeprefix("models/")
        return self.url.replace("{model}", quote(model, safe=""))

    def _api_key(self) -> str | None:
        if self._key is not None:
            return self._key.value  # each call's errors mask the key it sent
        return super()._api_key() or os.environ.get(FALLBACK_KEY_ENV) or None

    def _auth_headers(self, key: str | None) -> dict[str, str]:
        return {} if key is None else {"x-goog-api-key": key}

    def _failures(self) -> Failures:
        base = super()._failures()
        fields = {field.name: getattr(base, field.name) for field in dataclasses.fields(base)}
        return GeminiFailures(**fields)

    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        if request.tools:
            raise BadResponse(
                "GeminiBackend does not send tools yet",
                "call Gemini without tools=, or use its OpenAI-compatible endpoint with "
                "OpenAICompatibleBackend for tool calling",
            )
        system = [m.content for m in request.messages if m.role == "system"]
        config: dict[str, Any] = {
            "temperature": request.temperature,
            "maxOutputTokens": request.max_tokens,
            "candidateCount": 1,
        }
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.stop:
            config["stopSequences"] = list(request.stop)
        if request.seed is not None:
            config["seed"] = request.seed
        body: dict[str, Any] = {"contents": _contents(request.messages), "generationConfig": config}
        if system:
            body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
        body.update(request.extra)
        return body

    def _parse(self, data: dict[str, Any]) -> Parsed:
        candidates = data.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            raise BadResponse(_no_candidate(data), _BLOCK_HINT if _blocked(data) else "")
        first: dict[str, Any] = candidates[0] if isinstance(candidates[0], dict) else {}
        content = first.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        parts = parts if isinstance(parts, list) else []
        texts = [str(p["text"]) for p in parts if isinstance(p, dict) and "text" in p]
        reason = first.get("finishReason")
        finish = None if reason is None else _FINISH.get(str(reason), str(reason).lower())
        if not texts and finish == "content_filter":
            raise BadResponse(
                f"Gemini blocked the answer (finishReason {reason}){_ratings(first)}",
                _BLOCK_HINT,
            )
        version = data.get("modelVersion")
        return Parsed(
            content="".join(texts),
            finish_reason=finish,
            usage=_usage(data.get("usageMetadata")),
            tool_calls=(),
            model=version if isinstance(version, str) and version else None,
        )


class _Secret:
    """A key held by the backend: its repr (in tracebacks, debuggers, vars()) hides it."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "_Secret('[REDACTED]')"


def _contents(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for number, message in enumerate(messages, 1):
        if message.role == "system":
            continue
        if message.role == "tool" or message.tool_calls:
            raise BadResponse(
                f"message {number} is a tool call or a tool answer, which GeminiBackend does "
                "not send yet",
                "leave tool messages out of Gemini conversations, or use Gemini's "
                "OpenAI-compatible endpoint with OpenAICompatibleBackend",
            )
        role = "model" if message.role == "assistant" else "user"
        out.append({"role": role, "parts": [{"text": message.content}]})
    if not out:
        raise BadResponse(
            "the request has only system messages; Gemini needs at least one user message",
            "add the question as a user message (a prompt string is one)",
        )
    return out


def _usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    output = int(usage.get("candidatesTokenCount") or 0) + int(usage.get("thoughtsTokenCount") or 0)
    return Usage(input_tokens=int(usage.get("promptTokenCount") or 0), output_tokens=output)


def _blocked(data: dict[str, Any]) -> str | None:
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return str(reason) if reason else None


def _no_candidate(data: dict[str, Any]) -> str:
    reason = _blocked(data)
    if reason is not None:
        return f"Gemini blocked the prompt (promptFeedback.blockReason {reason}); no answer"
    return f"the answer has no candidates: {str(data)[:200]!r}"


def _ratings(candidate: dict[str, Any]) -> str:
    """The safety categories rated likely in a blocked candidate, as ": HARASSMENT (HIGH)"."""
    ratings = candidate.get("safetyRatings")
    if not isinstance(ratings, list):
        return ""
    flagged = [
        f"{str(r.get('category', '?')).removeprefix('HARM_CATEGORY_')} ({r.get('probability')})"
        for r in ratings
        if isinstance(r, dict) and r.get("probability") in ("MEDIUM", "HIGH")
    ]
    return ": " + ", ".join(flagged) if flagged else ""
