"""Request bodies and headers shared by the mock server's tests."""

from __future__ import annotations

from typing import Any

ANTHROPIC_HEADERS = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
QUESTION = "What is the capital of France?"


def openai_body(text: str = QUESTION, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-test", "messages": [{"role": "user", "content": text}], **extra}


def anthropic_body(text: str = QUESTION, **extra: Any) -> dict[str, Any]:
    body = {
        "model": "claude-test",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
    }
    return body | extra
