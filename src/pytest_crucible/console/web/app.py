"""The dashboard of `crucible serve`: a Starlette app over the store (docs/dashboard.md).

`create_app` assembles it: the dashboard's own pages and JSON (_dashboard.py), the steering
pages (steering.py), the finished-run pages (results.py) and the MCP server at /mcp when
those modules are there (_optional_parts.py), the static files, the token or loopback check
(security.py), and the error answers (_error_pages.py): every error is a page (or JSON under
/api/) that names the fix, never a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pytest_crucible.console.web._dashboard import Dashboard
from pytest_crucible.console.web._error_pages import error_response
from pytest_crucible.console.web._optional_parts import optional_mcp, optional_results_routes
from pytest_crucible.console.web.access import StoreAccess
from pytest_crucible.console.web.live import Feeds
from pytest_crucible.console.web.pages import templates
from pytest_crucible.console.web.security import LoopbackHostCheck, TokenCheck
from pytest_crucible.console.web.steering import Discovery, SteeringPages
from pytest_crucible.errors import CrucibleError

__all__ = ["create_app"]

_STATIC = Path(__file__).parent / "static"


def create_app(
    store_location: str,
    *,
    project_root: Path | None,
    token: str | None,
    steering: Any = None,
    side_folder: Path | None = None,
) -> Starlette:
    """The dashboard of the store at `store_location` (unmasked: it opens the store; pages
    show it masked). `token`: every request must carry it (security.py). `steering`: a
    console.steer.Steering, for the experiments found in the project's test files."""
    access = StoreAccess(store_location, side_folder)
    feeds = Feeds(access)
    discovery = Discovery(steering) if steering is not None else None
    dashboard = Dashboard(access, feeds, discovery)
    mounted = optional_mcp(store_location, project_root, token)
    routes: list[BaseRoute] = [
        *(SteeringPages(steering, discovery).routes() if discovery is not None else []),
        *dashboard.routes(),
        *optional_results_routes(),
        Mount("/static", app=StaticFiles(directory=_STATIC), name="static"),
        # the MCP endpoint answers at /mcp itself (a Mount would redirect POSTs to /mcp/)
        *([Route("/mcp", endpoint=mounted)] if mounted is not None else []),
    ]
    # without a token the server is on loopback: only loopback names are answered
    middleware = [Middleware(TokenCheck, token=token) if token else Middleware(LoopbackHostCheck)]
    app = Starlette(
        routes=routes,
        middleware=middleware,
        # CrucibleError and HTTPException are answered in place; anything else is also
        # re-raised by Starlette after the answer, so the server's output has its traceback
        exception_handlers={
            CrucibleError: error_response,
            HTTPException: error_response,
            Exception: error_response,
        },
        lifespan=_lifespan(access, mounted),
    )
    app.state.feeds = feeds
    app.state.access = access
    app.state.steering = steering
    return app


def _lifespan(access: StoreAccess, mounted: Any) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the MCP app's own lifespan (its sessions' task group) runs with ours
        async with contextlib.AsyncExitStack() as stack:
            if mounted is not None and hasattr(mounted, "lifespan"):
                await stack.enter_async_context(mounted.lifespan())
            try:
                yield
            finally:
                access.close()

    return lifespan


_ = templates  # results.py renders with the same environment (pages.templates)
