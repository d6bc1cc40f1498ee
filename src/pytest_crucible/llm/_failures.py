"""How the failures of a model call become errors.

A transport exception or an HTTP status becomes a `RetryableFailure` (the retry loop tries
again) or a permanent `ModelCallError`; the last failure of exhausted retries becomes a
`ModelUnavailableError`. Each error says what to do about it in its hint. `Failures` holds what
those messages quote of the backend. The call flow, and the history of failed attempts that
every error carries, are in `_backend_calls.py`.

The call is passed whole, never its key: pytest prints a failing frame's arguments, and a
`Call` keeps its secret out of its repr.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import aiohttp
import httpx

from pytest_crucible.llm._wire import api_message, redact, timeout_phase
from pytest_crucible.llm.errors import (
    FailedAttempt,
    ModelAuthError,
    ModelCallError,
    ModelConfigError,
    ModelRequestError,
    ModelUnavailableError,
)
from pytest_crucible.llm.retry import RetryableFailure, RetryPolicy, parse_retry_after
from pytest_crucible.llm.types import ModelRequest

__all__ = ["Call", "Failures"]

E = TypeVar("E", bound=ModelCallError)


class Call(Protocol):
    """What the errors of one call need of it: the request, where it went (`url`, quoted
    only as `Failures.url`, masked), its environment key and every credential to mask."""

    @property
    def request(self) -> ModelRequest: ...

    @property
    def url(self) -> str: ...

    @property
    def secret(self) -> str | None: ...

    @property
    def hidden(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Failures:
    """What one backend's errors say about it, and the retry policy its calls went through."""

    backend: str
    url: str
    base_url: str
    api_key_env: str | None
    key_description: str
    timeout: httpx.Timeout
    policy: RetryPolicy

    def error(
        self,
        kind: type[E],
        reason: str,
        request: ModelRequest,
        *,
        status: int | None = None,
        attempts: int = 0,
        history: Sequence[FailedAttempt] = (),
        hint: str = "",
        retry_after: float | None = None,
    ) -> E:
        return kind(
            reason,
            backend=self.backend,
            model=request.model,
            url=self.url,
            status=status,
            attempts=attempts,
            history=history,
            hint=hint,
            retry_after=retry_after,
        )

    def transport(
        self,
        call: Call,
        exc: Exception,
        attempt: int,
        history: list[FailedAttempt],
        timeout: httpx.Timeout | None = None,
    ) -> Exception:
        """A transport exception as a retryable failure (or a permanent configuration error);
        `exc` itself when it is not a network failure. `timeout`: the client's that sent the
        request (default: the backend's), quoted in a timeout's message."""
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return self.error(
                ModelConfigError,
                f"cannot send to this URL: {exc}",
                call.request,
                attempts=attempt,
                history=history,
                hint=f"check base_url={self.base_url!r} (e.g. 'http://127.0.0.1:8080/v1')",
            )
        untrusted = _certificate_failure(exc)
        if untrusted is not None:  # retrying cannot help: the certificate stays as it is
            return self.error(
                ModelConfigError,
                "the server's TLS certificate could not be verified: "
                f"{redact(str(untrusted), call.hidden)}",
                call.request,
                attempts=attempt,
                history=history,
                hint="if the server's certificate comes from an authority of your own (a "
                "company or self-signed one), name its PEM bundle in SSL_CERT_FILE (or a "
                "directory of them in SSL_CERT_DIR); otherwise check the host in base_url",
            )
        # httpx-aiohttp maps every aiohttp connection error to httpx.ConnectTimeout: look at
        # the aiohttp error itself to tell a timeout from a dropped connection.
        cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
        which = timeout_phase(cause)
        if which is not None:
            limit = getattr(timeout or self.timeout, which)
            within = "(no limit set)" if limit is None else f"no answer within {limit:g} s"
            return RetryableFailure(f"{which} timeout: {within}")
        if isinstance(exc, httpx.TransportError | aiohttp.ClientError | OSError):
            text = redact(str(cause), call.hidden) or "no detail"
            return RetryableFailure(f"connection error: {type(cause).__name__}: {text}")
        return exc  # not a network failure: a bug to see as it is

    def status(
        self, call: Call, answer: httpx.Response, attempt: int, history: list[FailedAttempt]
    ) -> RetryableFailure | ModelCallError:
        """A non-2xx answer as a retryable failure (a status the policy retries) or a
        permanent error."""
        status = answer.status_code
        detail = api_message(answer, call.hidden)
        retry_after = parse_retry_after(answer.headers)
        if status in self.policy.retry_statuses:
            return RetryableFailure(
                f"HTTP {status}: {detail}", status=status, retry_after=retry_after
            )
        kind = ModelAuthError if status in (401, 403) else ModelRequestError
        return self.error(
            kind,
            f"the API refused the request: {detail}",
            call.request,
            status=status,
            attempts=attempt,
            history=[*history, FailedAttempt(attempt, f"HTTP {status}: {detail}", status)],
            hint=self._status_hint(status, call),
            retry_after=retry_after,  # for a trial-level retry (ErrorHandling) of this error
        )

    def gave_up(
        self, call: Call, failure: RetryableFailure, attempts: int, history: list[FailedAttempt]
    ) -> ModelUnavailableError:
        """The last failure once the retry policy stops: attempts exhausted, or a Retry-After
        longer than the policy waits."""
        policy = self.policy
        if policy.too_long(failure):
            reason = (
                f"the server asked to wait {failure.retry_after:g} s before retrying "
                f"(Retry-After), more than RetryPolicy(retry_after_cap={policy.retry_after_cap:g})"
            )
            hint = (
                "try again later, lower the request rate or concurrency, or raise "
                "RetryPolicy(retry_after_cap=...)"
            )
        else:
            reason = f"retries exhausted; the last error: {failure.description}"
            hint = self._exhausted_hint(failure)
        return self.error(
            ModelUnavailableError,
            reason,
            call.request,
            status=failure.status,
            attempts=attempts,
            history=[*history, FailedAttempt(attempts, failure.description, failure.status)],
            hint=hint,
            retry_after=failure.retry_after,
        )

    def _status_hint(self, status: int, call: Call) -> str:
        env = self.api_key_env
        if status == 401:
            if env is None and call.hidden:
                return (
                    "the credentials this backend sends (in default_headers or base_url's "
                    "query) were rejected: check that they are valid and current"
                )
            if env is None:
                return (
                    "this backend sends no API key (api_key_env=None): pass api_key_env= the "
                    "name of the environment variable that holds the key"
                )
            if call.secret is None:
                return f"{env} is not set: set it to {self.key_description} (export {env}=...)"
            return (
                f"the key in {env} was rejected: set {env} to {self.key_description} "
                "(a valid, current one)"
            )
        if status == 403:
            where = f"the key in {env}" if env else "this client"
            return f"{where} may not use model {call.request.model!r}: check its permissions"
        if status == 404:
            return (
                f"check the model name {call.request.model!r} and base_url={self.base_url!r} "
                f"(the request went to {self.url})"
            )
        if status == 413:
            return "the request is too large: shorten the prompt or the conversation"
        return (
            "the message above says which part of the request the API rejected; fix that "
            "parameter (backend-specific ones go in ModelRequest.extra). Retrying will not help."
        )

    def _exhausted_hint(self, failure: RetryableFailure) -> str:
        more = "or allow more attempts with RetryPolicy(max_attempts=...)"
        if failure.status == 429:
            return f"the API is rate limiting: lower the concurrency or the request rate, {more}"
        if failure.status is not None:
            return f"the server keeps failing: check that it is up, try again later, {more}"
        if "timeout" in failure.description:
            return (
                "the model did not answer in time: raise timeout= (seconds; or the timeout "
                "of the httpx client you passed), lower max_tokens, or check the server at "
                f"{self.base_url}"
            )
        return f"cannot reach {self.url}: check that the server is running and base_url is right"


def _certificate_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The failed certificate check behind a transport error (either client wraps it in
    errors of its own), if that is what it is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
