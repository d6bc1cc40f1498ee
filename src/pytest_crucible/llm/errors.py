"""What a model call raises: one tree under `ModelCallError`, itself a `CrucibleError`.

    ModelCallError            any model call that failed; carries the call's context
    ├── ModelConfigError      the call cannot be made as configured (no API key, bad URL)
    ├── ModelRequestError     the API refused the request for good (400, 404, other 4xx)
    │   └── ModelAuthError    401 / 403: the key is missing, wrong or not allowed
    ├── ModelResponseError    the API answered, but not with what was asked (not JSON, ...)
    └── ModelUnavailableError retryable failures that did not clear up (retries exhausted,
                              or a Retry-After longer than the policy allows)

Every error names the backend, the model, the URL, the HTTP status, the attempts made and
the last few attempt failures with the delay waited after each, and says what to do. None of
them ever contains an API key: keys are read from the environment into request headers only,
and any text quoted from a response has the key masked out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_crucible.errors import CrucibleError

__all__ = [
    "FailedAttempt",
    "ModelAuthError",
    "ModelCallError",
    "ModelConfigError",
    "ModelRequestError",
    "ModelResponseError",
    "ModelUnavailableError",
    "PermitUnavailable",
]

SHOWN_ATTEMPTS = 5  # the last few attempt failures quoted in a message


@dataclass(frozen=True)
class FailedAttempt:
    """One HTTP attempt that failed: what went wrong and how long we waited afterwards."""

    number: int
    error: str
    status: int | None = None
    delay_s: float | None = None  # the wait before the next attempt; None for the last one

    def describe(self) -> str:
        waited = "" if self.delay_s is None else f", then waited {self.delay_s:.2f} s"
        return f"#{self.number}: {self.error}{waited}"


class ModelCallError(CrucibleError):
    """A model call failed. Attributes: `backend`, `model`, `url`, `status` (the last HTTP
    status, None when there was no HTTP answer), `attempts` (HTTP attempts made), `history`
    (the failed attempts), `reason` (what went wrong), `hint` (what to do) and `retry_after`
    (the seconds the last answer asked to wait before trying again, None when it did not say:
    a trial-level retry of the error-handling policy waits at least that long too)."""

    def __init__(
        self,
        reason: str,
        *,
        backend: str,
        model: str,
        url: str,
        status: int | None = None,
        attempts: int = 0,
        history: Sequence[FailedAttempt] = (),
        hint: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.reason = reason
        self.backend = backend
        self.model = model
        self.url = url
        self.status = status
        self.attempts = attempts
        self.history = tuple(history)
        self.hint = hint
        self.retry_after = retry_after
        super().__init__(self._compose())

    def _compose(self) -> str:
        call = f"{self.backend} call to model {self.model!r} at POST {self.url}"
        if self.attempts == 0:
            outcome = "was not made"
        else:
            plural = "" if self.attempts == 1 else "s"
            status = "" if self.status is None else f", last HTTP status {self.status}"
            outcome = f"failed after {self.attempts} attempt{plural}{status}"
        lines = [f"{call} {outcome}: {self.reason}"]
        if self.hint:
            lines.append(f"What to do: {self.hint}")
        if len(self.history) > 1:
            shown = self.history[-SHOWN_ATTEMPTS:]
            skipped = len(self.history) - len(shown)
            header = (
                f"Attempts (last {len(shown)} of {len(self.history)})" if skipped else "Attempts"
            )
            lines.append(f"{header}: " + "; ".join(item.describe() for item in shown))
        return "\n".join(lines)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields: rebuild from them (pickling across processes, e.g. xdist).
        fields = {
            "backend": self.backend,
            "model": self.model,
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "history": self.history,
            "hint": self.hint,
            "retry_after": self.retry_after,
        }
        return (_rebuild, (type(self), self.reason, fields))


def _rebuild(cls: type[ModelCallError], reason: str, fields: dict[str, Any]) -> ModelCallError:
    return cls(reason, **fields)


class ModelConfigError(ModelCallError):
    """The call cannot be made as configured: an API key that is not set, a bad base URL, a
    request the backend cannot express. Nothing was sent (or nothing could be)."""


class ModelRequestError(ModelCallError):
    """The API refused the request and retrying will not help (400, 404, 422, other 4xx)."""


class ModelAuthError(ModelRequestError):
    """401 or 403: the API key is missing, invalid or not allowed to use this model."""


class ModelResponseError(ModelCallError):
    """The API answered 2xx but not with a usable response: a body that is not JSON, a JSON
    document of the wrong shape, tool-call arguments that are not a JSON object."""


class ModelUnavailableError(ModelCallError):
    """Retryable failures (timeouts, connection errors, 429, 5xx) that did not clear up within
    the retry policy, or a server that asked to wait longer than the policy allows."""


class PermitUnavailable(CrucibleError):
    """A call watched with `waits_for_permit=False` (a hedge's backup request) found no
    rate-limit permit free at once, so it was not sent (llm/context.py, `CallWatcher`)."""
