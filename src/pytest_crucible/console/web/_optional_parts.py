"""The parts of the dashboard that may be absent: the finished-run pages (results.py) and the
MCP endpoint (console/mcp_server.py), each included when its module is there."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

__all__ = ["optional_mcp", "optional_results_routes", "results_module"]


def results_module() -> Any:
    """console/web/results.py (the finished-run pages), when it is there."""
    return _optional_module("pytest_crucible.console.web.results")


def _optional_module(name: str) -> Any:
    """Module `name`, or None when it is not there (an error inside it is raised)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def optional_results_routes() -> list[BaseRoute]:
    results = results_module()
    return list(results.routes) if results is not None else []


def optional_mcp(store_location: str, project_root: Path | None, token: str | None) -> Any:
    """The MCP server's streamable HTTP app (console/mcp_server.py), when it is there."""
    mcp_server = _optional_module("pytest_crucible.console.mcp_server")
    if mcp_server is None:
        return None
    return mcp_server.mcp_asgi_app(store_location, project_root, token)
