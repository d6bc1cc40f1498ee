"""What Gemini's error answers mean: `GeminiFailures`, the `Failures` of `GeminiBackend`.

The Generative Language API answers errors as {"error": {"code", "message", "status",
"details"}}. Beyond what every backend does, this reads:

- a wrong key: Gemini answers 400 INVALID_ARGUMENT ("API key not valid", reason
  API_KEY_INVALID), not 401; it becomes a `ModelAuthError` that says where to set the key;
- a missing or unauthorised key (403 PERMISSION_DENIED) and an unknown model (404
  NOT_FOUND), with hints that name the fix;
- the RetryInfo detail's `retryDelay` ("17s") on 429 RESOURCE_EXHAUSTED, used as the
  Retry-After when the answer has no Retry-After header.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from pytest_crucible.llm._failures import Call, Failures
from pytest_crucible.llm.errors import ModelAuthError, ModelCallError
from pytest_crucible.llm.retry import RetryableFailure

__all__ = ["GeminiFailures", "retry_delay"]

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_KEY_ENVS = "GEMINI_API_KEY (or GOOGLE_API_KEY)"


def _error(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = json.loads(answer.content)
    except ValueError:
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def retry_delay(answer: httpx.Response) -> float | None:
    """The seconds of a RetryInfo detail's `retryDelay` ("17s", "0.5s"); None without one."""
    details = _error(answer).get("details")
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("@type") == RETRY_INFO:
            found = _DURATION.match(str(detail.get("retryDelay", "")))
            if found is not None:
                return float(found.group(1))
    return None


def _key_invalid(answer: httpx.Response) -> bool:
    error = _error(answer)
    details = error.get("details")
    reasons = (
        [d.get("reason") for d in details if isinstance(d, dict)]
        if isinstance(details, list)
        else []
    )
    return "API_KEY_INVALID" in reasons or "API key not valid" in str(error.get("message", ""))


class GeminiFailures(Failures):
    """`Failures` that read Gemini's error bodies (see the module doc)."""

    def status(
        self, call: Call, answer: httpx.Response, attempt: int, history: list[Any]
    ) -> RetryableFailure | ModelCallError:
        failure = super().status(call, answer, attempt, history)
        if isinstance(failure, RetryableFailure):
            if failure.retry_after is None:
                failure.retry_after = retry_delay(answer)
            return failure
        if answer.status_code == 400 and _key_invalid(answer):
            return self.error(
                ModelAuthError,
                failure.reason,
                call.request,
                status=400,
                attempts=failure.attempts,
                history=failure.history,
                hint=self._key_hint(call, "was rejected as not valid"),
                retry_after=failure.retry_after,
            )
        return failure

    def _key_hint(self, call: Call, what: str) -> str:
        if call.secret is None:
            return f"no API key was sent: set {_KEY_ENVS} to a key from Google AI Studio"
        return (
            f"the API key {what}: set {_KEY_ENVS} (or GeminiBackend(api_key=...)) to a valid "
            "key from Google AI Studio"
        )

    def _status_hint(self, status: int, call: Call) -> str:
        if status in (401, 403):
            return self._key_hint(
                call,
                f"may not call model {call.request.model!r} (or the Generative Language API "
                "is not enabled for its project)",
            )
        if status == 404:
            return (
                f"check the model name {call.request.model!r} (e.g. 'gemini-2.0-flash'; "
                f"GET {self.base_url}/v1beta/models lists them) and base_url={self.base_url!r}"
            )
        return super()._status_hint(status, call)
