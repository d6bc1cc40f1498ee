"""The JSON each API answers with: completions, messages, model lists and error bodies."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from pytest_crucible.testing._answers import Reply
from pytest_crucible.testing._requests import Api, ChatRequest

__all__ = [
    "anthropic_message",
    "error_body",
    "fault_message",
    "gemini_response",
    "models_list",
    "openai_completion",
]

_OPENAI_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}

# google.rpc status names of the HTTP statuses the Generative Language API answers with
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def openai_completion(request: ChatRequest, reply: Reply, created: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in reply.tool_calls
        ]
        finish = "tool_calls"
    else:
        finish = "length" if reply.truncated else "stop"
    prompt, completion = request.prompt_words, reply.words
    return {
        "id": "chatcmpl-" + request.digest[:24],
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        "system_fingerprint": "fp_crucible_mock",
    }


def anthropic_message(request: ChatRequest, reply: Reply) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.content or not reply.tool_calls:
        content.append({"type": "text", "text": reply.content or ""})
    content.extend(
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in reply.tool_calls
    )
    stop = "max_tokens" if reply.truncated else "end_turn"
    if reply.tool_calls:
        stop = "tool_use"
    return {
        "id": "msg_" + request.digest[:24],
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": request.prompt_words, "output_tokens": reply.words},
    }


def gemini_response(request: ChatRequest, reply: Reply) -> dict[str, Any]:
    """A generateContent answer: one candidate, its finish reason, usage metadata."""
    parts: list[dict[str, Any]] = []
    if reply.content or not reply.tool_calls:
        parts.append({"text": reply.content or ""})
    parts.extend(
        {"functionCall": {"name": call.name, "args": call.arguments}} for call in reply.tool_calls
    )
    prompt, completion = request.prompt_words, reply.words
    return {
        "candidates": [
            {
                "content": {"parts": parts, "role": "model"},
                "finishReason": "MAX_TOKENS" if reply.truncated else "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": completion,
            "totalTokenCount": prompt + completion,
        },
        "modelVersion": request.model,
        "responseId": request.digest[:24],
    }


def error_body(
    api: Api,
    status: int,
    message: str,
    param: str | None = None,
    retry_after: float | None = None,
) -> dict[str, Any]:
    """The error JSON of `api` for an HTTP `status` (Gemini's carries `retry_after` as a
    RetryInfo detail, as the real API does on 429)."""
    if api == "gemini":
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": _GEMINI_STATUS.get(status, "UNKNOWN"),
        }
        if retry_after is not None:
            error["details"] = [{"@type": RETRY_INFO, "retryDelay": f"{retry_after:g}s"}]
        return {"error": error}
    if api == "anthropic":
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind, code = _OPENAI_ERROR_TYPES.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def fault_message(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{phrase} (fault injected by MockModelServer)"


def models_list(api: Api, models: tuple[str, ...]) -> dict[str, Any]:
    if api == "anthropic":
        data = [
            {
                "type": "model",
                "id": model,
                "display_name": model,
                "created_at": "2025-01-01T00:00:00Z",
            }
            for model in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }
    return {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": 0, "owned_by": "pytest-crucible"}
            for model in models
        ],
    }
