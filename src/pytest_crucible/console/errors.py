"""The console's errors: what a dashboard, an MCP client or a steering call did wrong. Each
message names the fix (the run ids there are, the page to go to, the limit a value broke)."""

from __future__ import annotations

from pytest_crucible.errors import CrucibleError

__all__ = ["ConsoleError", "NotFound"]


class ConsoleError(CrucibleError):
    """A request the console cannot serve (unknown run, bad instance, source outside the
    project root); the message names the fix."""


class NotFound(ConsoleError):
    """The run, experiment or trial asked for is not in the store (a 404 on the web)."""
