"""`HTTPBackend`, what every HTTP model backend shares: the call context, clients, keys,
the conveniences (`chat`, `rate_limiter`, `cost`) and the lifecycle.

A concrete backend provides the hooks of its base, `BackendCalls` (`_backend_calls.py`:
where to POST, the key's headers, the request on the wire, the answer read back);
`HTTPBackend` does the rest, the same way for `generate` and `agenerate`:

1. the trial's call context may answer (cache hit, replay) or refuse (budget) the call;
2. the request is sent with retries and rate limits (`BackendCalls._call`, `_acall`);
3. the answer becomes a `ModelResponse`, priced, which the call context then accounts for
   (and a strategy watching the call, `current_call_watcher`, sees).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
import pydantic

from pytest_crucible.llm._attempt import seeded
from pytest_crucible.llm._backend_calls import BackendCalls
from pytest_crucible.llm._http import (
    AsyncTransport,
    ClientPool,
    default_timeout,
    make_limits,
    make_timeout,
)
from pytest_crucible.llm._wire import Prompt, build_request, credentials, first_line, redact_url
from pytest_crucible.llm.context import current_call_context, current_call_watcher
from pytest_crucible.llm.errors import ModelConfigError
from pytest_crucible.llm.pricing import PriceTable
from pytest_crucible.llm.ratelimit import RateLimitSpec, build_limiters
from pytest_crucible.llm.retry import RetryPolicy
from pytest_crucible.llm.types import ModelRequest, ModelResponse
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["HTTPBackend"]

__tracebackhide__ = hide_library_frames


class HTTPBackend(BackendCalls):
    """Base of `OpenAICompatibleBackend` and `AnthropicBackend` (see the module doc)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key_env: str | None,
        timeout: float | httpx.Timeout | None,
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
        if timeout is None:
            timeout = default_timeout(self.base_url)
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
        self._hidden = credentials(self._default_headers, self.url)
        self._limiters = build_limiters(rate_limit, redact_url(self.base_url))

    # -- the Backend protocol ----------------------------------------------------------------

    def generate(self, request: ModelRequest) -> ModelResponse:
        """Call the model (through the trial's call context, when there is one)."""
        context, request, stored = self._before_call(request)
        if stored is not None:
            return stored
        return self._after_call(context, request, self._call(request))

    async def agenerate(self, request: ModelRequest) -> ModelResponse:
        """The async twin of `generate`."""
        context, request, stored = self._before_call(request)
        if stored is not None:
            return stored
        return self._after_call(context, request, await self._acall(request))

    def _before_call(self, request: ModelRequest) -> tuple[Any, ModelRequest, ModelResponse | None]:
        """The trial's call context (None outside a trial), the request as it will be sent
        (seeded), and the stored answer the context gives instead of a call (cache, replay)."""
        context = current_call_context()
        stored = None
        if context is not None:
            request = seeded(request, context)
            stored = context.before_call(self.name, request)
        watcher = current_call_watcher()  # a strategy around this call (strategies/)
        if watcher is not None:
            if stored is not None:
                watcher.stored(stored)
            else:
                watcher.sending(request, self.prices)
        return context, request, stored

    def _after_call(
        self, context: Any, request: ModelRequest, response: ModelResponse
    ) -> ModelResponse:
        response = self._priced(response)
        watcher = current_call_watcher()
        head_start = watcher.take_head_start() if watcher is not None else 0.0
        if head_start:
            took = response.duration_s if response.duration_s is not None else response.latency_s
            response = response.model_copy(update={"duration_s": took + head_start})
        if context is not None:
            context.after_call(self.name, request, response)
        if watcher is not None:
            watcher.answered(response)
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
        return f"{type(self).__name__}({redact_url(self.base_url)!r}, {key})"
