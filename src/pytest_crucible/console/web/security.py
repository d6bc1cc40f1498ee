"""The token check of `crucible serve` (docs/dashboard.md, "Security").

With a token, every request must carry it: an `Authorization: Bearer TOKEN` header (API
clients, MCP clients), or the cookie a browser got by opening any page once with
`?token=TOKEN`: the server answers that visit with a redirect to the same address without the
token (so it leaves the address bar and the history) and an HttpOnly, SameSite=Strict cookie.
Anything else gets 401, with a page or JSON that says how to give the token.

Without a token the server listens on a loopback address only, and answers only requests
addressed to a loopback name (the Host header): a page of another site whose name was made to
resolve to 127.0.0.1 (DNS rebinding) would otherwise read the dashboard and steer runs as if
it were the dashboard's own page (its Origin matches its Host).
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["COOKIE", "LoopbackHostCheck", "TokenCheck", "loopback"]

COOKIE = "crucible_token"
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_COOKIE_LIFETIME_S = 30 * 24 * 3600


def loopback(host: str) -> bool:
    """True for an address only this machine can reach."""
    return host in _LOOPBACK or host.startswith("127.")


class TokenCheck:
    """ASGI middleware: lets a request through only with the token (see the module)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = _headers(scope)
        if self._given(_bearer(headers)) or self._given(_cookie(headers)):
            await self._app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        from_query = [value for key, value in query if key == "token"]
        if from_query and self._given(from_query[-1]) and scope["method"] in ("GET", "HEAD"):
            await _set_cookie_and_redirect(scope, send, from_query[-1], query)
            return
        await _refuse(scope, send, wrong=bool(from_query or _bearer(headers)))

    def _given(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self._token)


class LoopbackHostCheck:
    """ASGI middleware of a server without a token: a request whose Host is not a loopback
    name gets 403 (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or loopback(_host_name(_headers(scope).get("host", ""))):
            await self._app(scope, receive, send)
            return
        problem = "this server answers only to the address it printed (127.0.0.1 or localhost)"
        fix = (
            "open the address `crucible serve` printed; to be reached by another name, serve "
            "with --host and a token (--token auto)"
        )
        await _respond(send, 403, *_refusal(scope, 403, problem, fix))


def _host_name(host: str) -> str:
    """The name of a Host header, without its port ("[::1]:8765" -> "::1")."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _headers(scope: Scope) -> dict[str, str]:
    return {
        key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]
    }


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _cookie(headers: dict[str, str]) -> str | None:
    for pair in headers.get("cookie", "").split(";"):
        name, _, value = pair.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


async def _set_cookie_and_redirect(
    scope: Scope, send: Send, token: str, query: list[tuple[str, str]]
) -> None:
    rest = urlencode([(key, value) for key, value in query if key != "token"])
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8")  # as sent: percent-encoded
    location = raw_path.decode("latin-1") + (f"?{rest}" if rest else "")
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={_COOKIE_LIFETIME_S}"
    await _respond(
        send,
        303,
        b"",
        [(b"location", location.encode("latin-1")), (b"set-cookie", cookie.encode("latin-1"))],
    )


async def _refuse(scope: Scope, send: Send, *, wrong: bool) -> None:
    problem = "the token given is wrong" if wrong else "this server needs its token"
    fix = (
        "open the address `crucible serve` printed (it ends in ?token=...), or send the header "
        "`Authorization: Bearer TOKEN`; the token is the one given with --token or "
        "$CRUCIBLE_TOKEN, or the one the server printed when it started"
    )
    body, headers = _refusal(scope, 401, problem, fix)
    await _respond(send, 401, body, [*headers, (b"www-authenticate", b'Bearer realm="crucible"')])


def _refusal(
    scope: Scope, code: int, problem: str, fix: str
) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The body and content type of a refusal: JSON for the API and MCP, a page otherwise."""
    path: str = scope["path"]
    if path.startswith(("/api/", "/mcp")) or path == "/api":
        body = json.dumps({"error": f"{problem}: {fix}"}).encode()
        return body, [(b"content-type", b"application/json")]
    body = _REFUSED_PAGE.format(code=code, problem=problem, fix=fix).encode()
    return body, [(b"content-type", b"text/html; charset=utf-8")]


async def _respond(send: Send, status: int, body: bytes, headers: list[Any]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# no data of the request goes into this page: nothing to escape
_REFUSED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Refused - crucible</title></head>
<body><h1>{code}: {problem}</h1><p>{fix}.</p></body></html>
"""
