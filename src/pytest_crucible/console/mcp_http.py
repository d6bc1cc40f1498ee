"""The MCP server over streamable HTTP, behind a bearer token (`/mcp` of `crucible serve`).

`McpHttpApp` is a plain ASGI app, deaf to its path (mount it with `Route("/mcp", endpoint=app)`
or serve it alone). Its sessions live in a task group the SDK's session manager runs: the
parent app enters `app.lifespan()` in its own lifespan; served alone, the app handles the ASGI
lifespan messages; else it starts that task group on its first request.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

__all__ = ["McpHttpApp"]

Scope = dict[str, Any]
Message = dict[str, Any]

_UNAUTHORISED = (
    "missing or wrong token: send the header `Authorization: Bearer TOKEN` with the token "
    "`crucible serve` printed when it started (or was given with --token)"
)
# without a token the server listens on loopback only: refuse a browser page of another site
# that reaches it through DNS rebinding (its Host header names that site)
_LOOPBACK = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
)
_ANY_HOST = TransportSecuritySettings(enable_dns_rebinding_protection=False)


class McpHttpApp:
    """ASGI: the MCP server's streamable HTTP transport, each request's bearer token checked
    against `token` (None: no token, loopback hosts only)."""

    def __init__(self, server: MCPServer, token: str | None) -> None:
        self._token = token
        self._manager = StreamableHTTPSessionManager(
            app=server._lowlevel_server,  # the SDK's own streamable_http_app builds it so
            security_settings=_ANY_HOST if token else _LOOPBACK,
        )
        self._transport = StreamableHTTPASGIApp(self._manager)
        self._running = False
        self._started: asyncio.Event | None = None
        self._alone: asyncio.Task[None] | None = None  # the task group's task, started alone

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """The sessions' task group, for the lifespan of the app that mounts this one."""
        self._running = True
        async with self._manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if not self._authorised(scope):
            await _send_unauthorised(send)
            return
        if not self._running:
            await self._start_alone()
        await self._transport(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        if self._token is None:
            return True
        headers = dict(scope.get("headers") or [])
        scheme, _, given = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        expected = self._token.encode()
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    async def _serve_lifespan(self, receive: Any, send: Any) -> None:
        await receive()  # lifespan.startup
        async with self.lifespan():
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    async def _start_alone(self) -> None:
        """Mounted without its lifespan: run the task group in a task of the server's loop
        (started once; requests that come meanwhile wait for it)."""
        if self._started is None:
            self._started = asyncio.Event()
            self._alone = asyncio.get_running_loop().create_task(self._run_alone())
        await self._started.wait()

    async def _run_alone(self) -> None:
        async with self.lifespan():
            assert self._started is not None
            self._started.set()
            await asyncio.Event().wait()  # until the loop ends


async def _send_unauthorised(send: Any) -> None:
    body = json.dumps({"error": _UNAUTHORISED}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="crucible"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
