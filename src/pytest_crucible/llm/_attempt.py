"""One model call being made: the request as sent (`Call`), an attempt's answer
(`Exchange`), and the attempts with the retry policy's answer to each failure (`Tries`).

`HTTPBackend`'s base `BackendCalls` (`_backend_calls.py`) drives them the same way for
`generate` and `agenerate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from pytest_crucible.llm._failures import Failures
from pytest_crucible.llm._rate_limiter import RateLimiter
from pytest_crucible.llm.errors import FailedAttempt
from pytest_crucible.llm.retry import RetryableFailure, RetryPolicy
from pytest_crucible.llm.types import ModelRequest, ModelResponse
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Call", "Exchange", "Tries", "seeded"]

__tracebackhide__ = hide_library_frames


def seeded(request: ModelRequest, context: Any) -> ModelRequest:
    """Inside a trial, a request without a seed gets the trial's (`trial.seed`, derived from
    the experiment seed and the trial key), so sampled answers are reproducible per trial."""
    seed = getattr(context, "seed", None)
    if request.seed is None and seed is not None:
        return request.model_copy(update={"seed": seed})
    return request


@dataclass(frozen=True)
class Call:
    """One call being made: the request as sent and the secrets to keep out of messages
    (the `Call` that `Failures` takes): `secret` is the environment key, `hidden` every
    credential the call sends (that key too)."""

    request: ModelRequest
    url: str
    body: bytes
    # repr=False: pytest prints a failing frame's arguments, and CI keeps that output
    headers: dict[str, str] = field(repr=False)
    secret: str | None = field(repr=False)
    hidden: tuple[str, ...] = field(repr=False)
    limiter: RateLimiter | None
    tokens: int  # the estimate the limiter charges (0 without a limiter)
    started: float  # perf_counter() when the call began (ModelResponse.duration_s)


class Exchange:
    """One attempt's HTTP answer, and the response made of it (`BackendCalls._exchange`)."""

    answer: httpx.Response | None = None
    _response: ModelResponse | None = None

    @property
    def response(self) -> ModelResponse:
        assert self._response is not None, "read once the exchange is over"
        return self._response

    @response.setter
    def response(self, value: ModelResponse) -> None:
        self._response = value


class Tries:
    """The attempts of one call: their count, the failed ones (every error quotes them), and
    the retry policy's answer to each failure (what the retry engine asks)."""

    def __init__(self, call: Call, policy: RetryPolicy, failures: Callable[[], Failures]):
        self._call = call
        self._policy = policy
        self._failures = failures
        self.count = 0
        self.history: list[FailedAttempt] = []

    def start(self) -> int:
        """Number the attempt that starts now (1-based)."""
        self.count += 1
        return self.count

    def decide(self, failure: BaseException) -> float | None:
        """The wait before the next attempt, or None: `failure` stands as it is. A retryable
        failure the policy stops at becomes the `ModelUnavailableError` that quotes them all."""
        decision = self._policy.decide(self.count, failure)
        if decision.retry:
            assert isinstance(failure, RetryableFailure)
            self.history.append(
                FailedAttempt(self.count, failure.description, failure.status, decision.delay)
            )
            return decision.delay
        if isinstance(failure, RetryableFailure):
            # from None: the error quotes every attempt already
            raise self._failures().gave_up(self._call, failure, self.count, self.history) from None
        return None
