"""The console's own error: a page, an API call or an MCP tool asked for something that is not
there or not allowed. Its message names the fix (the run ids there are, the page to go to)."""

from __future__ import annotations

from pytest_crucible.errors import CrucibleError

__all__ = ["ConsoleError", "NotFound"]


class ConsoleError(CrucibleError):
    """A request the console cannot serve: bad input, or a refused action."""


class NotFound(ConsoleError):
    """The run, experiment or trial asked for is not in the store (a 404 on the web)."""
