"""What every MCP tool stands on: the guard that turns a tool's failure into a tool error
(isError) whose text names the next step (an unknown run: "call list_runs"), never a crash of
the server, and keeps secrets out: nothing a tool returns carries a database password or an
API key (`mcp_scrub.py`); the store opened per call; the checks of a run id and an instance
name."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from pytest_crucible.console import steer
from pytest_crucible.console.mcp_scrub import Scrubber
from pytest_crucible.errors import CrucibleError
from pytest_crucible.store import ResultStore, open_store
from pytest_crucible.store.locations import masked

__all__ = ["ToolBase"]

_log = logging.getLogger("pytest_crucible.mcp")


class ToolBase:
    """The tools' bodies: each opens the store for its call (tools run in worker threads,
    and a store connection belongs to one thread) or asks the steering."""

    def __init__(self, store_location: str, project_root: Path) -> None:
        self._location = store_location
        self._steering = steer.Steering(store_location, project_root)
        self._scrubber = Scrubber.from_environment(store_location)

    def guarded(self, tool: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        """`tool` with its errors as tool errors that say what to do, and its result (and
        those errors) without secrets; the signature and docstring stay the tool's."""

        @wraps(tool)
        def call(**arguments: Any) -> dict[str, Any]:
            try:
                result: dict[str, Any] = self._scrubber.scrub(tool(**arguments))
                return result
            except ToolError as exc:
                raise ToolError(self._scrubber.scrub_text(str(exc))) from None
            except CrucibleError as exc:
                raise ToolError(self._scrubber.scrub_text(str(exc))) from None
            except Exception as exc:  # a bug of ours: the agent gets a message, stderr the trace
                _log.exception("tool %s failed", tool.__name__)
                raise ToolError(
                    f"{tool.__name__} failed unexpectedly ({type(exc).__name__}): a bug of "
                    "pytest-crucible; the server's stderr has the traceback, please report it"
                ) from None

        return call

    @contextmanager
    def _store(self) -> Iterator[ResultStore]:
        store = open_store(self._location, readonly=True)
        try:
            yield store
        finally:
            store.close()

    def _known_run(self, store: ResultStore, run_id: str) -> None:
        if store.run(run_id) is None:
            raise ToolError(
                f"no run {run_id!r} in store {masked(self._location)}: call list_runs for the "
                "run ids (newest first)"
            )

    def _instance(self, name: str) -> dict[str, Any] | None:
        found = [i for i in self._steering.instances(None) if i.get("name") == name]
        return found[0] if found else None
