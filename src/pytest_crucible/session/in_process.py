"""The link of a run without xdist: the local worker reaches its controller directly.

One process plays both roles (session/__init__.py `start_session`); the worker (worker.py)
sees the controller (controller.py) through this `ControllerLink` (link.py), as an xdist
worker sees its own through `XdistLink` (xdist_worker.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_crucible.session.controller import Controller
    from pytest_crucible.session.link import WorkerResults
    from pytest_crucible.store.journal import Journal

__all__ = ["InProcessLink"]


class InProcessLink:
    """A run without xdist: the local worker reaches the controller directly (link.py)."""

    worker_id = "main"
    owns_every_item = True
    group_count = 0

    def __init__(self, controller: Controller) -> None:
        self._controller = controller
        self.inputs = controller.inputs
        self.calls = controller.calls
        self.plans = controller.plans
        self.journal: Journal | None = controller.recorder.journal
        self.store_location = controller.location  # unmasked: the worker connects with it

    def stopped(self) -> Mapping[str, str]:
        return self._controller.guard.stopped

    def crashes(self) -> Mapping[str, Mapping[str, Any]]:
        return {}  # only an xdist worker can crash and leave the run going

    def warn(self, message: str) -> None:
        self._controller.warn(message)

    def hand_over(self, results: WorkerResults) -> None:
        self._controller.local_results = results  # received at the controller's finish

    def watch(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._controller.display.watch_local(snapshot)
