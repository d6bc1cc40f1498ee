"""HTTP clients for the model backends: pooled, with connect and read timeouts, made lazily.

Sync calls share one `httpx.Client`. Async calls go straight to aiohttp's connection pool
(`AiohttpClient`): httpx's own async pool (httpcore) turns CPU-bound above about 32 concurrent
requests, aiohttp's holds at 128 and more (see benchmarks/transport.py). Its answers are
`httpx.Response`s and its transport errors httpx's exceptions, as the rest of the backend
expects; only httpx's request machinery is left out (the httpx API over aiohttp,
`httpx-aiohttp`'s client, took 0.28 ms of CPU per call, this 0.12 ms).
`async_transport="httpx"` selects httpx's own client, for comparison.

An async client belongs to the event loop it was made on, so `ClientPool` keeps one per loop.
Each is closed by `aclose()` / `close()`, or, when nobody closes it, by the loop's own
`shutdown_asyncgens()` (which `asyncio.run` calls before closing its loop): the client is
owned by a parked async generator whose `finally` closes it.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Literal, Protocol

import aiohttp
import httpx
from httpx_aiohttp.transport import map_aiohttp_exceptions

from pytest_crucible.llm._wire import redact_url

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "AiohttpClient",
    "AsyncPoster",
    "AsyncTransport",
    "ClientPool",
    "default_timeout",
    "make_limits",
    "make_timeout",
    "suited_timeouts",
]

AsyncTransport = Literal["aiohttp", "httpx"]

_CLOSE_TIMEOUT_S = 10.0
_CLOSING: set[asyncio.Task[None]] = set()  # closes scheduled from sync code inside a loop


class _MaskedUrls(logging.Filter):
    """httpx logs each request's URL at INFO ("HTTP Request: POST https://...?key=..."):
    mask its credentials before a handler (pytest's log capture, a trial's log) sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, httpx.URL) for arg in record.args
        ):
            record.args = tuple(
                redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_MaskedUrls())

DEFAULT_TIMEOUT_S = 60.0
# base_url -> seconds: servers of this process that need a longer timeout than an API (the
# local llama.cpp server registers itself while it runs: a CPU model on a busy machine can
# take minutes for one answer).
suited_timeouts: dict[str, float] = {}


def default_timeout(base_url: str) -> float:
    """The timeout for `timeout=None`: the one a server of this process registered for
    `base_url`, else `DEFAULT_TIMEOUT_S`."""
    return suited_timeouts.get(base_url.rstrip("/"), DEFAULT_TIMEOUT_S)


def make_timeout(timeout: float | httpx.Timeout, connect_timeout: float | None) -> httpx.Timeout:
    """`timeout` for reads, writes and waiting for a pooled connection; `connect_timeout`
    for opening one (None: the same as `timeout`). An `httpx.Timeout` is used as it is."""
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(timeout, connect=timeout if connect_timeout is None else connect_timeout)


def make_limits(max_connections: int) -> httpx.Limits:
    return httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)


class AsyncPoster(Protocol):
    """What a backend's async calls need of a client: `AiohttpClient`, or an
    `httpx.AsyncClient` (httpx's own transport, or the caller's client)."""

    @property
    def timeout(self) -> httpx.Timeout: ...

    @property
    def is_closed(self) -> bool: ...

    async def post(
        self, url: str, *, content: bytes, headers: dict[str, str]
    ) -> httpx.Response: ...

    async def aclose(self) -> None: ...


# Sent unless the request says otherwise: what httpx.Response can always decode.
_ACCEPT_ENCODING = {"accept-encoding": "gzip, deflate"}


class AiohttpClient:
    """POSTs through one aiohttp session (made on the running loop), read whole.

    As httpx's client would: timeouts by phase (connect, read, waiting for a pooled
    connection), connections kept alive `limits.keepalive_expiry` seconds, httpx's SSL
    context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR; made at the first https call: it costs
    20 ms of CPU that a local http server never needs), cookies kept, no redirects followed,
    the proxies of the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) read once.
    (aiohttp's own `trust_env` reads the environment and ~/.netrc again at every request:
    0.4 ms of CPU each.) The body is decoded by `httpx.Response`, by its content-encoding.
    """

    def __init__(self, *, timeout: httpx.Timeout, limits: httpx.Limits) -> None:
        self.timeout = timeout
        self._timeout = aiohttp.ClientTimeout(
            sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
        )
        options: dict[str, Any] = {}
        if limits.max_connections is not None:
            options["limit"] = limits.max_connections
        if limits.keepalive_expiry is not None:
            options["keepalive_timeout"] = limits.keepalive_expiry
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(**options),
            headers=_ACCEPT_ENCODING,
            auto_decompress=False,
        )
        self._proxies = urllib.request.getproxies_environment()
        self._proxy_of: dict[str, str | None] = {}
        self._tls: ssl.SSLContext | None = None

    @property
    def is_closed(self) -> bool:
        return self._session.closed

    async def post(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        with map_aiohttp_exceptions():  # aiohttp's errors as httpx's, the cause kept
            async with self._session.post(
                url,
                data=content,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
                proxy=self._proxy(url) if self._proxies else None,
                ssl=self._tls_context() if url[:6].lower() == "https:" else True,
            ) as answer:
                body = await answer.read()
        return httpx.Response(answer.status, headers=answer.raw_headers, content=body)

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = httpx.create_ssl_context()
        return self._tls

    def _proxy(self, url: str) -> str | None:
        if url not in self._proxy_of:
            parts = urllib.parse.urlsplit(url)
            bypass = urllib.request.proxy_bypass(parts.hostname or "")  # NO_PROXY
            chosen = self._proxies.get(parts.scheme) or self._proxies.get("all")
            self._proxy_of[url] = None if bypass else chosen
        return self._proxy_of[url]

    async def aclose(self) -> None:
        await self._session.close()


class _LoopClient:
    """An async client and the parked generator that closes it when its loop shuts down."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: AsyncPoster) -> None:
        self.loop = loop
        self.client = client
        self._owner = self._own()
        self._started = False

    async def _own(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self.client.aclose()

    async def start(self) -> None:
        # The first step registers the generator with the running loop's asyncgen hooks.
        self._started = True
        await self._owner.__anext__()

    async def aclose(self) -> None:
        if self._started:
            await self._owner.aclose()  # runs the finally: closes the client
        else:
            await self.client.aclose()


class ClientPool:
    """The clients of one backend: a sync client and one async client per event loop."""

    def __init__(
        self,
        *,
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        async_transport: AsyncTransport = "aiohttp",
        client: httpx.Client | None = None,
        async_client: httpx.AsyncClient | None = None,
    ) -> None:
        if async_transport not in ("aiohttp", "httpx"):
            raise ValueError(f"async_transport={async_transport!r}: use 'aiohttp' or 'httpx'")
        self.timeout = timeout
        self.limits = limits
        self.async_transport: AsyncTransport = async_transport
        self._given_client = client  # the caller's: used, never closed
        self._given_async_client = async_client
        self._client: httpx.Client | None = None
        self._async: dict[asyncio.AbstractEventLoop, _LoopClient] = {}
        self._lock = threading.Lock()

    def client(self) -> httpx.Client:
        if self._given_client is not None:
            return self._given_client
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(timeout=self.timeout, limits=self.limits)
                client = self._client
        return client

    async def async_client(self) -> AsyncPoster:
        if self._given_async_client is not None:
            return self._given_async_client
        loop = asyncio.get_running_loop()
        entry = self._async.get(loop)
        if entry is not None and not entry.client.is_closed:
            return entry.client
        with self._lock:
            # Loops closed without shutting down their generators: nothing can be awaited on
            # them any more, so their clients are dropped.
            for gone in [known for known in self._async if known.is_closed()]:
                del self._async[gone]
            entry = _LoopClient(loop, self._new_async_client())
            self._async[loop] = entry
        await entry.start()
        return entry.client

    def _new_async_client(self) -> AsyncPoster:
        if self.async_transport == "aiohttp":
            return AiohttpClient(timeout=self.timeout, limits=self.limits)
        return httpx.AsyncClient(timeout=self.timeout, limits=self.limits)

    def close(self) -> None:
        """Close every client this pool made, whatever thread or loop it belongs to."""
        for entry in self._forget_clients():
            _close_elsewhere(entry)

    async def aclose(self) -> None:
        """`close()` for async code: the current loop's client is awaited."""
        current = asyncio.get_running_loop()
        for entry in self._forget_clients():
            if entry.loop is current:
                await entry.aclose()
            else:
                _close_elsewhere(entry)

    def _forget_clients(self) -> list[_LoopClient]:
        """Forget every client: the thread client is closed here, the loops' are returned."""
        with self._lock:
            client, self._client = self._client, None
            entries, self._async = list(self._async.values()), {}
        if client is not None:
            client.close()
        return entries

    @property
    def open_loops(self) -> int:
        """How many event loops have an async client (for tests)."""
        return sum(1 for loop in self._async if not loop.is_closed())


def _close_elsewhere(entry: _LoopClient) -> None:
    """Close an async client from outside its loop, as far as that loop allows."""
    loop = entry.loop
    if loop.is_closed():
        return
    if loop.is_running():
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # called synchronously from inside that loop: cannot block on it
            task = loop.create_task(entry.aclose())
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)
        else:
            future = asyncio.run_coroutine_threadsafe(entry.aclose(), loop)
            future.result(timeout=_CLOSE_TIMEOUT_S)
    else:
        loop.run_until_complete(entry.aclose())
