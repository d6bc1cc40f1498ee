"""The console's errors: what a dashboard, an MCP client or a steering call did wrong."""

from __future__ import annotations

from pytest_crucible.errors import CrucibleError

__all__ = ["ConsoleError"]


class ConsoleError(CrucibleError):
    """A request the console cannot serve (unknown run, bad instance, source outside the
    project root); the message names the fix."""
