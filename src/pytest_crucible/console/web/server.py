"""Serving the dashboard with uvicorn on a socket the caller bound (so that a taken port is a
clear message before anything starts), and the check that the serve extra is installed."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from pytest_crucible.errors import CrucibleError

__all__ = ["require_serve_extra", "serve"]

_EXTRA = "pip install 'pytest-crucible[serve]'"
_GRACE_S = 3  # open live streams get this long to close when the server stops


def require_serve_extra() -> None:
    """A CrucibleError naming the extra when one of its packages is missing."""
    try:
        import jinja2  # noqa: F401
        import sse_starlette  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise CrucibleError(
            f"crucible serve needs the serve extra ({exc.name} is missing): {_EXTRA}"
        ) from None


def serve(app: Any, listening: socket.socket) -> None:
    """Serve `app` on `listening` until Ctrl-C (or SIGTERM); live streams are closed."""
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=_GRACE_S,
        lifespan="on",
    )
    # uvicorn raises the Ctrl-C it handled again, once it stopped
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[listening])
