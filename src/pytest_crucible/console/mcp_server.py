"""The MCP server for agents: the console's read side (`watch.py`) and its steering
(`steer.py`) as Model Context Protocol tools, built with the official SDK (2.x).

`build_server` makes the server; `serve_stdio` runs it over stdin/stdout (`crucible mcp`);
`mcp_asgi_app` serves it over streamable HTTP behind the dashboard's bearer token (`/mcp` of
`crucible serve`). A tool returns a JSON object (structured content). The tools' bodies live
in `_mcp_experiment_tools.py` (experiments, instances) and `_mcp_run_tools.py` (runs), on
`_mcp_tool_base.py` (the error guard, the store per call) with the parameter types of
`_mcp_tool_params.py`; this module names them, in the order agents see them.
"""

from __future__ import annotations

from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from pytest_crucible.console._mcp_experiment_tools import ExperimentTools
from pytest_crucible.console._mcp_run_tools import RunTools
from pytest_crucible.console.mcp_http import McpHttpApp

__all__ = ["build_server", "mcp_asgi_app", "serve_stdio"]

INSTRUCTIONS = """\
pytest-crucible runs AI experiments (conditions x dataset items x repeats = trials) as pytest \
test suites and stores every trial. Start with list_experiments (runs stored) or \
discover_experiments (experiments in the project's test files, with their config schemas). \
To run one: create_instance (a saved configuration), start_run, then poll get_progress until \
its status is no longer "running"; read results with get_analysis, list_trials, get_trial and \
query_logs; compare two runs of one experiment with compare_runs; stop a run with cancel_run."""

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_DESTROY = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)


def build_server(store_location: str, project_root: Path | None) -> MCPServer:
    """The MCP server over the store at `store_location` (a SQLite path or a database URL),
    starting runs of experiments under `project_root` (the current folder when None)."""
    root = (project_root or Path.cwd()).resolve()
    tools = _Tools(store_location, root)
    server: MCPServer = MCPServer(
        name="pytest-crucible",
        title="pytest-crucible experiments",
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    for name, hints in _TOOLS.items():
        server.add_tool(tools.guarded(getattr(tools, name)), name=name, annotations=hints)
    return server


def serve_stdio(store_location: str, project_root: Path | None) -> None:
    """Serve over stdin/stdout until the client closes stdin (`crucible mcp`). While serving,
    the SDK points file descriptor 1 at stderr, so stray output and child processes never
    reach the protocol."""
    build_server(store_location, project_root).run("stdio")


def mcp_asgi_app(store_location: str, project_root: Path | None, token: str | None) -> McpHttpApp:
    """The tools over streamable HTTP, as an ASGI app answering at whatever path it is mounted
    (`Route("/mcp", endpoint=app)`); every request needs `Authorization: Bearer TOKEN` when
    `token` is set (401 otherwise). Its sessions need a task group: enter `app.lifespan()` in
    the parent app's lifespan (served alone, it handles the ASGI lifespan itself; else it
    starts on its first request)."""
    return McpHttpApp(build_server(store_location, project_root), token)


# name -> annotations: the order agents see them in
_TOOLS: dict[str, ToolAnnotations] = {
    "list_experiments": _READ,
    "discover_experiments": _READ,
    "describe_experiment": _READ,
    "list_instances": _READ,
    "create_instance": _WRITE,
    "update_instance": _WRITE,
    "delete_instance": _DESTROY,
    "start_run": _WRITE,
    "list_launches": _READ,
    "list_runs": _READ,
    "get_run": _READ,
    "get_progress": _READ,
    "cancel_run": _DESTROY,
    "query_logs": _READ,
    "list_trials": _READ,
    "get_trial": _READ,
    "get_analysis": _READ,
    "compare_runs": _READ,
}


class _Tools(ExperimentTools, RunTools):
    """Every tool: those on experiments and instances, and those on runs."""
