"""What every HTTP model backend shares: the call context, retries, errors, clients, keys.

A concrete backend says where to POST (`_endpoint`), which headers carry the key
(`_auth_headers`), how a `ModelRequest` looks on the wire (`_payload`) and how to read the
answer (`_parse`); `HTTPBackend` does the rest, the same way for `generate` and `agenerate`:

1. the trial's call context may answer (cache hit, replay) or refuse (budget) the call;
2. the request is sent with retries (`RetryPolicy`); each failed attempt is recorded;
   with a `rate_limit`, each attempt first takes a permit from the model's `RateLimiter`
   and gives it back with its outcome (usage, or the status and Retry-After of a failure);
3. the answer becomes a `ModelResponse` (latency of the successful attempt, attempts made,
   the response JSON as `raw`), which the call context then accounts for.

Retry-After and the limiter: the failed caller sleeps the Retry-After in its retry loop
while the limiter pauses every other caller until the same deadline; when the retry wakes,
the pause is over (unless a later answer moved it), so nobody waits twice.

API keys are read from the environment variable named by `api_key_env` at call time, go into
request headers and nowhere else; text quoted from a response has the key masked out.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import aiohttp
import httpx
import pydantic
import tenacity

from ..errors import ConfigError
from ._http import AsyncTransport, ClientPool, make_limits, make_timeout
from ._wire import (
    BadResponse,
    Parsed,
    Prompt,
    api_message,
    build_request,
    excerpt,
    first_line,
    redact,
    timeout_phase,
)
from .context import current_call_context
from .errors import (
    FailedAttempt,
    ModelAuthError,
    ModelCallError,
    ModelConfigError,
    ModelRequestError,
    ModelResponseError,
    ModelUnavailableError,
)
from .pricing import PriceTable
from .ratelimit import Permit, RateLimiter, RateLimitSpec, build_limiters, estimate_tokens
from .retry import RetryableFailure, RetryPolicy, parse_retry_after
from .types import ModelRequest, ModelResponse

__all__ = ["HTTPBackend"]


def _seeded(request: ModelRequest, context: Any) -> ModelRequest:
    """Inside a trial, a request without a seed gets the trial's (`trial.seed`, derived from
    the experiment seed and the trial key), so sampled answers are reproducible per trial."""
    seed = getattr(context, "seed", None)
    if request.seed is None and seed is not None:
        return request.model_copy(update={"seed": seed})
    return request


E = TypeVar("E", bound=ModelCallError)


@dataclass(frozen=True)
class _Call:
    """One call being made: the request as sent and the secret to keep out of messages."""

    request: ModelRequest
    url: str
    body: bytes
    # repr=False: pytest prints a failing frame's arguments, and CI keeps that output
    headers: dict[str, str] = field(repr=False)
    secret: str | None = field(repr=False)
    limiter: RateLimiter | None
    tokens: int  # the estimate the limiter charges (0 without a limiter)


class HTTPBackend:
    """Base of `OpenAICompatibleBackend` and `AnthropicBackend` (see the module doc)."""

    name: ClassVar[str] = "http"
    key_required: ClassVar[bool] = False
    key_description: ClassVar[str] = "your API key"

    def __init__(
        self,
        *,
        base_url: str,
        api_key_env: str | None,
        timeout: float | httpx.Timeout,
        connect_timeout: float | None,
        retry: RetryPolicy | None,
        max_connections: int,
        prices: PriceTable | None,
        default_headers: Mapping[str, str] | None,
        async_transport: AsyncTransport,
        client: httpx.Client | None,
        async_client: httpx.AsyncClient | None,
        rate_limit: RateLimitSpec = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections={max_connections}: must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.retry = retry if retry is not None else RetryPolicy()
        self.prices = prices if prices is not None else PriceTable()
        self.timeout = make_timeout(timeout, connect_timeout)
        self.max_connections = max_connections
        self._default_headers = dict(default_headers or {})
        self._pool = ClientPool(
            timeout=self.timeout,
            limits=make_limits(max_connections),
            async_transport=async_transport,
            client=client,
            async_client=async_client,
        )
        self.url = self._endpoint()
        self._limiters = build_limiters(rate_limit)

    # -- what a concrete backend provides ----------------------------------------------------

    def _endpoint(self) -> str:
        raise NotImplementedError

    def _auth_headers(self, key: str | None) -> dict[str, str]:
        raise NotImplementedError

    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _parse(self, data: dict[str, Any]) -> Parsed:
        raise NotImplementedError

    # -- the Backend protocol ----------------------------------------------------------------

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Call the model (through the trial's call context, when there is one)."""
        context = current_call_context()
        if context is not None:
            request = _seeded(request, context)
            stored = context.before_call(self.name, request)
            if stored is not None:
                return stored
        response = self._priced(self._call(request))
        if context is not None:
            context.after_call(self.name, request, response)
        return response

    async def agenerate(self, request: ModelRequest) -> ModelResponse:
        """The async twin of `generate`."""
        context = current_call_context()
        if context is not None:
            request = _seeded(request, context)
            stored = context.before_call(self.name, request)
            if stored is not None:
                return stored
        response = self._priced(await self._acall(request))
        if context is not None:
            context.after_call(self.name, request, response)
        return response

    # -- conveniences ------------------------------------------------------------------------

    def request(self, model: str, prompt: Prompt, **params: Any) -> ModelRequest:
        """A `ModelRequest` from a prompt (a string is one user message) or messages (each a
        `ChatMessage` or a dict); `params` are its other fields (max_tokens, temperature,
        top_p, seed, stop, tools, extra) plus `system=` (a system message put first)."""
        try:
            return build_request(model, prompt, params)
        except (pydantic.ValidationError, TypeError, ValueError) as exc:
            fields = ", ".join(sorted(set(ModelRequest.model_fields) - {"model", "messages"}))
            raise ModelConfigError(
                f"cannot build the request: {first_line(exc)}",
                backend=self.name,
                model=model,
                url=self.url,
                hint=f"chat() takes a prompt or messages, system=, and {fields}; "
                "backend-specific parameters go in extra={...}",
            ) from None

    def chat(self, model: str, prompt: Prompt, **params: Any) -> ModelResponse:
        """`generate(self.request(model, prompt, **params))`."""
        return self.generate(self.request(model, prompt, **params))

    async def achat(self, model: str, prompt: Prompt, **params: Any) -> ModelResponse:
        """`await agenerate(self.request(model, prompt, **params))`."""
        return await self.agenerate(self.request(model, prompt, **params))

    def _priced(self, response: ModelResponse) -> ModelResponse:
        cost = self.cost(response)
        return response if cost is None else response.model_copy(update={"cost_usd": cost})

    def rate_limiter(self, model: str | None = None) -> RateLimiter | None:
        """The limiter that `model`'s calls go through (None: not limited). With one
        `RateLimit` it is the same for every model; with a dict by model name, name one."""
        limiters = self._limiters
        if not isinstance(limiters, dict):
            return limiters
        if model is None:
            names = ", ".join(repr(name) for name in sorted(limiters)) or "none"
            raise ConfigError(
                f"{self.name}.rate_limiter(): this backend's rate limits are per model; "
                f"name one (limited models: {names})"
            )
        return limiters.get(model)

    def cost(self, response: ModelResponse) -> float | None:
        """USD for a response's usage by `self.prices`; None when its model has no price."""
        return self.prices.cost(response.model, response.usage)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections (the backend reconnects if used again)."""
        self._pool.close()

    async def aclose(self) -> None:
        await self._pool.aclose()

    def __enter__(self) -> HTTPBackend:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> HTTPBackend:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        key = "no key" if self.api_key_env is None else f"api_key_env={self.api_key_env!r}"
        return f"{type(self).__name__}({self.base_url!r}, {key})"

    # -- one call ----------------------------------------------------------------------------

    def _call(self, request: ModelRequest) -> ModelResponse:
        call = self._prepare(request)
        failures: list[FailedAttempt] = []
        response: ModelResponse | None = None
        attempts = 0
        try:
            for attempt in self.retry.retrying(_recorder(failures)):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    permit = call.limiter.acquire(call.tokens) if call.limiter else None
                    with self._settled(call, permit):
                        began = time.perf_counter()
                        try:
                            answer = self._pool.client().post(
                                call.url, content=call.body, headers=call.headers
                            )
                        except Exception as exc:
                            failure = self._transport_failure(call, exc, attempts, failures)
                            if failure is exc:
                                raise
                            raise failure from exc
                        latency = time.perf_counter() - began
                        response = self._answered(call, answer, latency, attempts, failures)
                        self._settle_success(call, permit, response)
        except RetryableFailure as failure:
            raise self._gave_up(call, failure, attempts, failures) from failure
        assert response is not None
        return response

    async def _acall(self, request: ModelRequest) -> ModelResponse:
        call = self._prepare(request)
        failures: list[FailedAttempt] = []
        response: ModelResponse | None = None
        attempts = 0
        client = await self._pool.async_client()
        try:
            async for attempt in self.retry.aretrying(_recorder(failures)):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    permit = await call.limiter.aacquire(call.tokens) if call.limiter else None
                    with self._settled(call, permit):
                        began = time.perf_counter()
                        try:
                            answer = await client.post(
                                call.url, content=call.body, headers=call.headers
                            )
                        except Exception as exc:
                            failure = self._transport_failure(call, exc, attempts, failures)
                            if failure is exc:
                                raise
                            raise failure from exc
                        latency = time.perf_counter() - began
                        response = self._answered(call, answer, latency, attempts, failures)
                        self._settle_success(call, permit, response)
        except RetryableFailure as failure:
            raise self._gave_up(call, failure, attempts, failures) from failure
        assert response is not None
        return response

    def _answered(
        self,
        call: _Call,
        answer: httpx.Response,
        latency: float,
        attempts: int,
        failures: list[FailedAttempt],
    ) -> ModelResponse:
        """The attempt's HTTP answer checked (a retryable status raises) and parsed."""
        self._check_status(call, answer, attempts, failures)
        return self._response(call, answer, latency, attempts, failures)

    @contextmanager
    def _settled(self, call: _Call, permit: Permit | None) -> Iterator[None]:
        """Give the attempt's permit back as a failure when the attempt raises: with the
        status, and the Retry-After unless it is beyond what the retry policy waits (that
        call fails at once; pausing everyone that long would only stall them)."""
        try:
            yield
        except BaseException as exc:
            if permit is not None and call.limiter is not None:
                status = getattr(exc, "status", None)
                after = getattr(exc, "retry_after", None)
                if self.retry.too_long(exc):
                    after = None
                call.limiter.failure(permit, status=status, retry_after=after)
            raise

    @staticmethod
    def _settle_success(call: _Call, permit: Permit | None, response: ModelResponse) -> None:
        if permit is not None and call.limiter is not None:
            used = response.usage.total_tokens
            call.limiter.success(permit, used if used > 0 else None)

    def _prepare(self, request: ModelRequest) -> _Call:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        key = key or None  # an empty variable is an unset one
        if key is None and self.key_required:
            raise self._error(
                ModelConfigError,
                f"the environment variable {self.api_key_env} is not set",
                request,
                hint=f"set {self.api_key_env} to {self.key_description} "
                f"(export {self.api_key_env}=...), or pass api_key_env= the name of the "
                "variable that holds it",
            )
        try:
            body = json.dumps(self._payload(request), ensure_ascii=False).encode()
        except BadResponse as exc:  # a request this API cannot express
            raise self._error(ModelConfigError, exc.reason, request, hint=exc.hint) from None
        headers = {"content-type": "application/json", "accept": "application/json"}
        headers.update(self._default_headers)
        headers.update(self._auth_headers(key))
        limiter = self.rate_limiter(request.model) if self._limiters is not None else None
        tokens = estimate_tokens(request) if limiter is not None else 0
        return _Call(request, self.url, body, headers, key, limiter, tokens)

    def _transport_failure(
        self, call: _Call, exc: Exception, attempt: int, failures: list[FailedAttempt]
    ) -> Exception:
        """A transport exception as a retryable failure (or a permanent configuration error)."""
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return self._error(
                ModelConfigError,
                f"cannot send to this URL: {exc}",
                call.request,
                attempts=attempt,
                history=failures,
                hint=f"check base_url={self.base_url!r} (e.g. 'http://127.0.0.1:8080/v1')",
            )
        # httpx-aiohttp maps every aiohttp connection error to httpx.ConnectTimeout: look at
        # the aiohttp error itself to tell a timeout from a dropped connection.
        cause = exc.__cause__ if isinstance(exc.__cause__, aiohttp.ClientError) else exc
        which = timeout_phase(cause)
        if which is not None:
            limit = getattr(self.timeout, which) or 0.0
            return RetryableFailure(f"{which} timeout: no answer within {limit:g} s")
        if isinstance(exc, httpx.TransportError | aiohttp.ClientError | OSError):
            text = redact(str(cause), call.secret) or "no detail"
            return RetryableFailure(f"connection error: {type(cause).__name__}: {text}")
        return exc  # not a network failure: a bug to see as it is

    def _check_status(
        self, call: _Call, answer: httpx.Response, attempt: int, failures: list[FailedAttempt]
    ) -> None:
        status = answer.status_code
        if 200 <= status < 300:
            return
        detail = api_message(answer, call.secret)
        if status in self.retry.retry_statuses:
            raise RetryableFailure(
                f"HTTP {status}: {detail}",
                status=status,
                retry_after=parse_retry_after(answer.headers),
            )
        kind = ModelAuthError if status in (401, 403) else ModelRequestError
        raise self._error(
            kind,
            f"the API refused the request: {detail}",
            call.request,
            status=status,
            attempts=attempt,
            history=[*failures, FailedAttempt(attempt, f"HTTP {status}: {detail}", status)],
            hint=self._status_hint(status, call),
        )

    def _status_hint(self, status: int, call: _Call) -> str:
        env = self.api_key_env
        if status == 401:
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
                f"(the request went to {call.url})"
            )
        if status == 413:
            return "the request is too large: shorten the prompt or the conversation"
        return (
            "the message above says which part of the request the API rejected; fix that "
            "parameter (backend-specific ones go in ModelRequest.extra). Retrying will not help."
        )

    def _gave_up(
        self, call: _Call, failure: RetryableFailure, attempts: int, failures: list[FailedAttempt]
    ) -> ModelUnavailableError:
        history = [*failures, FailedAttempt(attempts, failure.description, failure.status)]
        policy = self.retry
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
        return self._error(
            ModelUnavailableError,
            reason,
            call.request,
            status=failure.status,
            attempts=attempts,
            history=history,
            hint=hint,
        )

    def _exhausted_hint(self, failure: RetryableFailure) -> str:
        more = "or allow more attempts with RetryPolicy(max_attempts=...)"
        if failure.status == 429:
            return f"the API is rate limiting: lower the concurrency or the request rate, {more}"
        if failure.status is not None:
            return f"the server keeps failing: check that it is up, try again later, {more}"
        if "timeout" in failure.description:
            return (
                "the model did not answer in time: raise timeout= (seconds), lower max_tokens, "
                f"or check the server at {self.base_url}"
            )
        return f"cannot reach {self.url}: check that the server is running and base_url is right"

    def _response(
        self,
        call: _Call,
        answer: httpx.Response,
        latency: float,
        attempts: int,
        failures: list[FailedAttempt],
    ) -> ModelResponse:
        text = redact(answer.content.decode("utf-8", errors="replace"), call.secret)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self._error(
                ModelResponseError,
                f"the API answered HTTP {answer.status_code} with a body that is not a JSON "
                f"object: {excerpt(text)!r}",
                call.request,
                status=answer.status_code,
                attempts=attempts,
                history=failures,
                hint=f"check that base_url={self.base_url!r} points at the API itself "
                "(not a proxy's or a web page's address); retrying will not help",
            )
        try:
            parsed = self._parse(data)
        except BadResponse as exc:
            raise self._error(
                ModelResponseError,
                exc.reason,
                call.request,
                status=answer.status_code,
                attempts=attempts,
                history=failures,
                hint=exc.hint or f"check that base_url={self.base_url!r} serves this API",
            ) from None
        return ModelResponse(
            model=parsed.model or call.request.model,
            content=parsed.content,
            finish_reason=parsed.finish_reason,
            usage=parsed.usage,
            tool_calls=parsed.tool_calls,
            latency_s=latency,
            attempts=attempts,
            raw=data,
        )

    def _error(
        self,
        kind: type[E],
        reason: str,
        request: ModelRequest,
        *,
        status: int | None = None,
        attempts: int = 0,
        history: Sequence[FailedAttempt] = (),
        hint: str = "",
    ) -> E:
        return kind(
            reason,
            backend=self.name,
            model=request.model,
            url=self.url,
            status=status,
            attempts=attempts,
            history=history,
            hint=hint,
        )


def _recorder(failures: list[FailedAttempt]) -> Any:
    """A tenacity `before_sleep` that records each failed attempt and the wait after it."""

    def record(state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        if not isinstance(failure, RetryableFailure):
            return
        delay = state.next_action.sleep if state.next_action is not None else None
        failures.append(
            FailedAttempt(state.attempt_number, failure.description, failure.status, delay)
        )

    return record
