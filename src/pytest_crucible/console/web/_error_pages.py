"""The dashboard's answer to every failure: a page (JSON under /api/) that names the fix,
never a traceback (that goes to the server's own output)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pytest_crucible.console.errors import NotFound
from pytest_crucible.console.web.pages import STRICT_HEADERS, page
from pytest_crucible.errors import CrucibleError, StoreError
from pytest_crucible.store.locations import masked_in

__all__ = ["error_response", "unknown_api"]


async def unknown_api(request: Request) -> Response:
    raise NotFound(
        f"no API address {request.url.path}; the API: /api/experiments, /api/runs, "
        "/api/runs/RUN_ID (/progress, /trials, /trials/KEY, /logs, /events)"
    )


async def error_response(request: Request, exc: Exception) -> Response:
    """Every failure as a page (JSON under /api/) that says what to do; no traceback leaves
    the server (it goes to the server's own stderr)."""
    status, message = _status_and_message(request, exc)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return page(
        request,
        "error.html",
        status_code=status,
        headers=STRICT_HEADERS,
        status=status,
        message=message,
    )


def _status_and_message(request: Request, exc: Exception) -> tuple[int, str]:
    if isinstance(exc, NotFound):
        return 404, masked_in(str(exc))
    if isinstance(exc, StoreError):
        return 503, masked_in(str(exc))
    if isinstance(exc, CrucibleError):
        return 400, masked_in(str(exc))
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return 404, (
                f"no page at {request.url.path}; the pages are / (experiments), /runs, "
                "/runs/RUN_ID and /experiments/NAME"
            )
        return exc.status_code, str(exc.detail)
    return 500, (
        f"internal error ({type(exc).__name__}) while serving {request.url.path}; the "
        "server's output has the details: please report it"
    )
