"""The aiohttp application of the mock model server: API endpoints, faults, control endpoints."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from pytest_crucible.testing._answers import Answerer, AnswerError
from pytest_crucible.testing._errors import MockServerError
from pytest_crucible.testing._faults import Fault, FaultPlan
from pytest_crucible.testing._latency import Latency, LatencyByModel, latency_from_json
from pytest_crucible.testing._requests import (
    Api,
    RequestError,
    last_user_text,
    parse_anthropic,
    parse_gemini,
    parse_openai,
)
from pytest_crucible.testing._shapes import (
    anthropic_message,
    error_body,
    fault_message,
    gemini_response,
    models_list,
    openai_completion,
)
from pytest_crucible.testing._stats import Stats

__all__ = ["ServerState", "build_app", "serve"]

logger = logging.getLogger("pytest_crucible.testing")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MALFORMED_BODY = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"mess'
SHUTDOWN_TIMEOUT = 0.1
GEMINI_PREFIX = "/v1beta/"
MAX_BODY = 64 * 1024 * 1024


@dataclass
class ServerState:
    """Everything the handlers read: shared by the app and, in thread mode, the front object."""

    latency: Latency | LatencyByModel
    faults: FaultPlan
    answerer: Answerer
    models: tuple[str, ...]
    stats: Stats = field(default_factory=Stats)

    def reset(self) -> None:
        self.stats.reset()
        self.faults.replace([])
        self.latency.reset()


def _api_of(request: web.Request) -> Api:
    if request.path.startswith(GEMINI_PREFIX):
        return "gemini"
    if request.path.startswith("/v1/messages") or "anthropic-version" in request.headers:
        return "anthropic"
    return "openai"


def _error(
    api: Api,
    status: int,
    message: str,
    param: str | None = None,
    retry_after: float | None = None,
    **headers: str,
) -> web.Response:
    body = error_body(api, status, message, param, retry_after)
    return web.json_response(body, status=status, headers=headers or None)


class _Dropped(web.Response):
    """Returned after the connection was closed: nothing reaches the client."""


def _drop(request: web.Request) -> web.Response:
    """Close the connection without a response."""
    if request.transport is not None:
        request.transport.close()
    return _Dropped(status=200)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def _decode(raw: bytes) -> tuple[Any, str | None]:
    if not raw.strip():
        return None, "the request body is empty; send a JSON object"
    try:
        return json.loads(raw), None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"the request body is not valid JSON: {exc}"


def _anthropic_headers(request: web.Request) -> web.Response | None:
    if not request.headers.get("x-api-key"):
        return _error("anthropic", 401, "x-api-key header is required")
    if not request.headers.get("anthropic-version"):
        return _error("anthropic", 400, "anthropic-version: header is required")
    return None


def _gemini_key(request: web.Request) -> web.Response | None:
    """Gemini's key goes in the x-goog-api-key header; the mock refuses one in the URL, which
    would leak into every log that records URLs."""
    if "key" in parse_qs(request.query_string):
        return _error(
            "gemini",
            400,
            "MockModelServer: the API key is in the URL (?key=...); send it in the "
            "x-goog-api-key header instead (a key in a URL leaks into logs)",
        )
    if not request.headers.get("x-goog-api-key"):
        return _error(
            "gemini",
            403,
            "Method doesn't allow unregistered callers (callers without established identity)."
            " Please use API Key or other form of API consumer identity to call this API.",
        )
    return None


def _gemini_model(request: web.Request) -> str | None:
    """The model of `/v1beta/models/{model}:generateContent`; None for another method."""
    model, colon, method = request.match_info["target"].rpartition(":")
    return model if colon and model and method == "generateContent" else None


class _Handlers:
    def __init__(self, state: ServerState) -> None:
        self.state = state

    @web.middleware
    async def account(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count every /v1/ request and its outcome; render unknown routes as API errors."""
        if not request.path.startswith(("/v1/", GEMINI_PREFIX)):
            return await handler(request)
        stats = self.state.stats
        stats.begin(request.path)
        outcome = "cancelled"
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = _error(_api_of(request), exc.status, f"{exc.reason}: {request.path}")
            except Exception as exc:
                logger.exception("MockModelServer: internal error on %s", request.path)
                message = f"MockModelServer internal error: {type(exc).__name__}: {exc}"
                response = _error(_api_of(request), 500, message)
            outcome = "dropped" if isinstance(response, _Dropped) else str(response.status)
            return response
        finally:
            stats.end(outcome)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "openai")

    async def messages(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, "anthropic")

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        if _gemini_model(request) is None:
            method = request.match_info["target"].rpartition(":")[2] or "(none)"
            return _error(
                "gemini",
                404,
                f"MockModelServer serves only POST /v1beta/models/{{model}}:generateContent, "
                f"not the method {method!r}",
            )
        return await self._generate(request, "gemini")

    async def _generate(self, request: web.Request, api: Api) -> web.StreamResponse:
        received = time.time()
        raw = await request.read()
        body, problem = _decode(raw)
        entry = {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers),
            "received_at": received,
        } | ({"json": body} if problem is None else {"body": raw[:1000].decode("utf-8", "replace")})
        self.state.stats.log(entry)
        status = None  # the client went away before the answer
        try:
            response = await self._answer(request, api, body, problem, entry)
            status = response.status
            return response
        finally:
            self.state.stats.answered(entry, status)

    async def _answer(
        self,
        request: web.Request,
        api: Api,
        body: Any,
        problem: str | None,
        entry: dict[str, Any],
    ) -> web.StreamResponse:
        if api == "anthropic" and (refusal := _anthropic_headers(request)) is not None:
            return refusal
        if api == "gemini" and (refusal := _gemini_key(request)) is not None:
            return refusal
        fault = self.state.faults.take(request.path, last_user_text(body))
        if fault is not None:
            self.state.stats.fault(fault.label)
            faulted = await self._fault(request, api, fault)
            if faulted is not None:
                return faulted
        if problem is not None:
            return _error(api, 400, problem)
        try:
            if api == "gemini":
                chat = parse_gemini(body, str(_gemini_model(request)))
            else:
                chat = parse_openai(body) if api == "openai" else parse_anthropic(body)
        except RequestError as exc:
            return _error(api, exc.status, exc.message, exc.param)
        try:
            reply = await self.state.answerer.reply(chat)
        except AnswerError as exc:
            logger.error("MockModelServer: %s", exc)
            return _error(api, 500, f"MockModelServer: {exc}")
        if api == "openai":
            answer = openai_completion(chat, reply, int(time.time()))
        elif api == "gemini":
            answer = gemini_response(chat, reply)
        else:
            answer = anthropic_message(chat, reply)
        delay = self.state.latency.sample_for(chat.model) if fault is None else 0.0
        self.state.stats.delayed(entry, delay)
        if delay > 0:
            await asyncio.sleep(delay)
        return web.json_response(answer)

    async def _fault(self, request: web.Request, api: Api, fault: Fault) -> web.Response | None:
        """The faulty response; None when a timeout fault answers normally after its hold."""
        if fault.hold > 0:
            await asyncio.sleep(fault.hold)
        if fault.kind == "status":
            assert fault.status is not None
            headers: dict[str, str] = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = _seconds(fault.retry_after)
                headers["retry-after-ms"] = str(round(fault.retry_after * 1000))
            message = fault.message or fault_message(fault.status)
            return _error(api, fault.status, message, None, fault.retry_after, **headers)
        if fault.kind == "malformed":
            return web.Response(status=200, body=MALFORMED_BODY, content_type="application/json")
        if fault.kind == "disconnect" or fault.then == "drop":
            return _drop(request)
        return None

    async def models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(models_list(_api_of(request), self.state.models))

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    async def get_stats(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.state.stats.snapshot())

    async def get_requests(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.state.stats.request_log())

    async def reset(self, request: web.Request) -> web.StreamResponse:
        self.state.reset()
        return web.json_response({"ok": True})

    async def get_faults(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.state.faults.describe())

    async def put_faults(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            if not isinstance(data, list):
                raise MockServerError(f"send a JSON array of faults, not {type(data).__name__}")
            self.state.faults.replace([Fault.from_dict(item) for item in data])
        except (ValueError, MockServerError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(self.state.faults.describe())

    async def put_latency(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await request.json()
            latency: Latency | LatencyByModel = latency_from_json(data)
        except (ValueError, MockServerError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.state.latency = latency
        return web.json_response(latency.to_dict())


def build_app(state: ServerState) -> web.Application:
    """A fresh application over `state` (an aiohttp application runs once)."""
    handlers = _Handlers(state)
    app = web.Application(middlewares=[handlers.account], client_max_size=MAX_BODY)
    app.add_routes(
        [
            web.post("/v1/chat/completions", handlers.chat),
            web.post("/v1/messages", handlers.messages),
            web.post(GEMINI_PREFIX + "models/{target}", handlers.gemini),
            web.get("/v1/models", handlers.models),
            web.get("/health", handlers.health),
            web.get("/_mock/stats", handlers.get_stats),
            web.get("/_mock/requests", handlers.get_requests),
            web.post("/_mock/reset", handlers.reset),
            web.get("/_mock/faults", handlers.get_faults),
            web.put("/_mock/faults", handlers.put_faults),
            web.put("/_mock/latency", handlers.put_latency),
        ]
    )
    return app


async def serve(
    app: web.Application,
    host: str,
    port: int,
    started: Callable[[int], None],
    stop: asyncio.Event,
) -> None:
    """Listen on host:port, call `started(port)`, serve until `stop` is set, then close.

    Requests still in flight at the end (a held timeout fault) are cancelled after
    SHUTDOWN_TIMEOUT seconds, so stopping is quick.
    """
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=1024)
        await site.start()
        started(int(runner.addresses[0][1]))
        await stop.wait()
    finally:
        await runner.cleanup()
