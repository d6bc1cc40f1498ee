"""One call of an HTTP backend: `BackendCalls`, the base of `HTTPBackend` (`_backend.py`),
holds the hooks a concrete backend provides and the attempts of a call.

A concrete backend says where to POST (`_endpoint`), which headers carry the key
(`_auth_headers`), how a `ModelRequest` looks on the wire (`_payload`) and how to read the
answer (`_parse`). `_call` and `_acall` are twins that differ only where one awaits: an
attempt's work is `_exchange`, the retry decisions `_attempt.Tries`.

The request is sent with retries (`RetryPolicy`, carried out by the retry engine,
`util/retrying.py`); each failed attempt is recorded; with a `rate_limit`, each attempt
first takes a permit from the model's `RateLimiter` and gives it back with its outcome
(usage, or the status and Retry-After of a failure). The answer becomes a `ModelResponse`
(latency of the successful attempt, duration of the whole call, attempts made, the response
JSON as `raw`).

Retry-After and the limiter: the failed caller sleeps the Retry-After in its retry loop
while the limiter pauses every other caller until the same deadline; when the retry wakes,
the pause is over (unless a later answer moved it), so nobody waits twice.

What each failure becomes (a retried `RetryableFailure`, or a `ModelCallError` and its hint)
is decided in `_failures.py`; this module raises it.

API keys are read from the environment variable named by `api_key_env` at call time, go into
request headers and nowhere else; text quoted from a response has the key masked out, and so
do the credentials of `default_headers` and of the URL's query (`_wire.credentials`), which
errors and reprs quote masked (`_wire.redact_url`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import httpx

from pytest_crucible.errors import ConfigError
from pytest_crucible.llm._attempt import Call, Exchange, Tries
from pytest_crucible.llm._failures import Failures
from pytest_crucible.llm._http import ClientPool
from pytest_crucible.llm._rate_limiter import Permit, RateLimiter
from pytest_crucible.llm._wire import BadResponse, Parsed, excerpt, redact, redact_url
from pytest_crucible.llm.context import current_call_watcher
from pytest_crucible.llm.errors import (
    FailedAttempt,
    ModelConfigError,
    ModelResponseError,
    PermitUnavailable,
)
from pytest_crucible.llm.ratelimit import estimate_tokens
from pytest_crucible.llm.retry import RetryPolicy
from pytest_crucible.llm.types import ModelRequest, ModelResponse
from pytest_crucible.util.retrying import aretry_call, retry_call
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["BackendCalls"]

__tracebackhide__ = hide_library_frames


class BackendCalls:
    """How an `HTTPBackend` makes one call (see the module doc)."""

    name: ClassVar[str] = "http"
    key_required: ClassVar[bool] = False
    key_description: ClassVar[str] = "your API key"

    # set by HTTPBackend.__init__
    base_url: str
    api_key_env: str | None
    url: str
    retry: RetryPolicy
    timeout: httpx.Timeout
    _default_headers: dict[str, str]
    _pool: ClientPool
    _hidden: tuple[str, ...]
    _limiters: RateLimiter | dict[str, RateLimiter] | None

    # -- what a concrete backend provides ----------------------------------------------------

    def _endpoint(self) -> str:
        raise NotImplementedError

    def _auth_headers(self, key: str | None) -> dict[str, str]:
        raise NotImplementedError

    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        raise NotImplementedError

    def _parse(self, data: dict[str, Any]) -> Parsed:
        raise NotImplementedError

    def _api_key(self) -> str | None:
        """The key of a call: `api_key_env`'s value at call time (empty counts as unset)."""
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return key or None

    def _request_url(self, request: ModelRequest) -> str:
        """Where this request goes: `self.url`, unless the API puts the model in the path."""
        return self.url

    # -- which limiter a call takes its permits from ------------------------------------------

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

    # -- one call ----------------------------------------------------------------------------

    def _call(self, request: ModelRequest) -> ModelResponse:
        call = self._prepare(request)
        tries = Tries(call, self.retry, self._failures)

        def attempt() -> ModelResponse:
            number = tries.start()
            permit = self._permit(call)
            client = self._pool.client()
            with self._exchange(call, permit, number, tries.history, client.timeout) as sent:
                sent.answer = client.post(call.url, content=call.body, headers=call.headers)
            return sent.response

        return retry_call(attempt, tries.decide, sleep=self.retry.sleep)

    async def _acall(self, request: ModelRequest) -> ModelResponse:
        call = self._prepare(request)
        tries = Tries(call, self.retry, self._failures)
        client = await self._pool.async_client()

        async def attempt() -> ModelResponse:
            number = tries.start()
            permit = await self._apermit(call)
            with self._exchange(call, permit, number, tries.history, client.timeout) as sent:
                sent.answer = await client.post(call.url, content=call.body, headers=call.headers)
            return sent.response

        return await aretry_call(attempt, tries.decide, sleep=self.retry.async_sleep)

    def _permit(self, call: Call) -> Permit | None:
        """The attempt's rate-limit permit (None: not limited). A watched call that may not
        queue (a hedge's backup) takes one only if it is free now."""
        if call.limiter is None:
            return None
        watcher = current_call_watcher()
        if watcher is None or watcher.waits_for_permit:
            return call.limiter.acquire(call.tokens)
        return self._free_permit(call, call.limiter)

    async def _apermit(self, call: Call) -> Permit | None:
        """The async twin of `_permit`."""
        if call.limiter is None:
            return None
        watcher = current_call_watcher()
        if watcher is None or watcher.waits_for_permit:
            return await call.limiter.aacquire(call.tokens)
        return self._free_permit(call, call.limiter)

    def _free_permit(self, call: Call, limiter: RateLimiter) -> Permit:
        permit = limiter.try_acquire(call.tokens)
        if isinstance(permit, Permit):
            return permit
        raise PermitUnavailable(
            f"no rate-limit permit free for a {self.name} call to {call.request.model!r}; "
            "a request that may not wait (a hedge's backup) is not sent"
        )

    def _prepare(self, request: ModelRequest) -> Call:
        key = self._api_key()
        if key is None and self.key_required:
            raise self._failures().error(
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
            raise self._failures().error(
                ModelConfigError, exc.reason, request, hint=exc.hint
            ) from None
        headers = {"content-type": "application/json", "accept": "application/json"}
        headers.update(self._default_headers)
        headers.update(self._auth_headers(key))
        limiter = self.rate_limiter(request.model) if self._limiters is not None else None
        tokens = estimate_tokens(request) if limiter is not None else 0
        hidden = self._hidden if key is None else (key, *self._hidden)
        return Call(
            request,
            self._request_url(request),
            body,
            headers,
            key,
            hidden,
            limiter,
            tokens,
            time.perf_counter(),
        )

    @contextmanager
    def _settled(self, call: Call, permit: Permit | None) -> Iterator[None]:
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

    @contextmanager
    def _exchange(
        self,
        call: Call,
        permit: Permit | None,
        attempt: int,
        history: list[FailedAttempt],
        timeout: httpx.Timeout,
    ) -> Iterator[Exchange]:
        """One attempt, around the request its body sends (into `answer`): the permit given
        back with the outcome (`_settled`), a transport error mapped (`_sending`), and the
        answer checked and parsed into `response`, with the latency of the request."""
        exchange = Exchange()
        with self._settled(call, permit):
            began = time.perf_counter()
            with self._sending(call, attempt, history, timeout):
                yield exchange
            latency = time.perf_counter() - began
            assert exchange.answer is not None
            exchange.response = self._answered(
                call, permit, exchange.answer, latency, attempt, history
            )

    @contextmanager
    def _sending(
        self, call: Call, attempt: int, history: list[FailedAttempt], timeout: httpx.Timeout
    ) -> Iterator[None]:
        """Raise what an exception from sending the request maps to (`Failures.transport`);
        one that is not a network failure goes on as it is. `timeout` is the one the client
        sending it has (a client given by the caller keeps its own).

        The failure does not chain the transport's exception (`from None`; its message names
        it): pytest's tracebacks print the arguments and locals of the frames of a chained
        exception, and httpx's and aiohttp's frames hold the request headers, API key
        included."""
        try:
            yield
        except Exception as exc:
            failure = self._failures().transport(call, exc, attempt, history, timeout)
            if failure is exc:
                raise
            raise failure from None

    def _answered(
        self,
        call: Call,
        permit: Permit | None,
        answer: httpx.Response,
        latency: float,
        attempts: int,
        history: list[FailedAttempt],
    ) -> ModelResponse:
        """The attempt's HTTP answer checked (a status other than 2xx raises) and parsed, and
        its permit given back with the tokens it used."""
        if not 200 <= answer.status_code < 300:
            raise self._failures().status(call, answer, attempts, history)
        response = self._response(call, answer, latency, attempts, history)
        if permit is not None and call.limiter is not None:
            used = response.usage.total_tokens
            call.limiter.success(permit, used if used > 0 else None)
        return response

    def _response(
        self,
        call: Call,
        answer: httpx.Response,
        latency: float,
        attempts: int,
        history: list[FailedAttempt],
    ) -> ModelResponse:
        text = redact(answer.content.decode("utf-8", errors="replace"), call.hidden)
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self._failures().error(
                ModelResponseError,
                f"the API answered HTTP {answer.status_code} with a body that is not a JSON "
                f"object: {excerpt(text)!r}",
                call.request,
                status=answer.status_code,
                attempts=attempts,
                history=history,
                hint=f"check that base_url={self.base_url!r} points at the API itself "
                "(not a proxy's or a web page's address); retrying will not help",
            )
        try:
            parsed = self._parse(data)
        except BadResponse as exc:
            raise self._failures().error(
                ModelResponseError,
                exc.reason,
                call.request,
                status=answer.status_code,
                attempts=attempts,
                history=history,
                hint=exc.hint or f"check that base_url={self.base_url!r} serves this API",
            ) from None
        return ModelResponse(
            model=parsed.model or call.request.model,
            content=parsed.content,
            finish_reason=parsed.finish_reason,
            usage=parsed.usage,
            tool_calls=parsed.tool_calls,
            latency_s=latency,
            duration_s=time.perf_counter() - call.started,
            attempts=attempts,
            raw=data,
        )

    def _failures(self) -> Failures:
        """What this backend's errors say about it, as its attributes are now."""
        return Failures(
            backend=self.name,
            url=redact_url(self.url),
            base_url=redact_url(self.base_url),
            api_key_env=self.api_key_env,
            key_description=self.key_description,
            timeout=self.timeout,
            policy=self.retry,
        )
