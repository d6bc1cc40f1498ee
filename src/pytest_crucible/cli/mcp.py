"""`crucible mcp`: the MCP server for agents over stdio (docs/mcp.md).

An MCP client (Claude Desktop, Claude Code, an agent built on the SDK) starts this command
and speaks the Model Context Protocol on its stdin and stdout: tools to list and describe
experiments, save instances, start, watch and cancel runs, read logs, trials and analyses,
and compare runs. Nothing but the protocol goes to stdout; logs go to stderr. The same tools
are served over HTTP at /mcp of `crucible serve`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_crucible.cli._store import StoreLocation
from pytest_crucible.errors import CrucibleError

__all__ = ["add_parser"]


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "mcp",
        parents=[shared],
        help="serve the MCP tools for agents over stdio",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--project",
        default=".",
        metavar="PATH",
        help="the project root: experiments are discovered and runs started only in test "
        "files under it (default: the current directory)",
    )
    parser.set_defaults(handler=_mcp)


def _mcp(options: argparse.Namespace) -> int:
    location = StoreLocation.of(getattr(options, "store", None))
    project = Path(options.project).expanduser()
    if not project.is_dir():
        raise CrucibleError(
            f"--project {options.project}: no such folder; give the root folder of the "
            "project whose experiments the agent may run"
        )
    try:
        from pytest_crucible.console.mcp_server import serve_stdio
    except ImportError as exc:
        if exc.name is None or exc.name.split(".")[0] not in {"mcp", "mcp_types", "pydantic"}:
            raise
        raise CrucibleError(
            "crucible mcp needs the MCP SDK: pip install 'pytest-crucible[serve]'"
        ) from None
    serve_stdio(location.location, project.resolve())
    return 0
