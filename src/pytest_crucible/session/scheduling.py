"""The xdist scheduler of `pytest --crucible -n N`: trials go to workers in whole groups.

pytest-xdist's load scheduler hands out items a few at a time, so a worker never knows
which trial comes next and cannot start it ahead. This scheduler is xdist's scope scheduler
with trials grouped by `assign_groups` (each trial function's trials cut into 2 x N
contiguous runs): a group goes whole to one worker, which computes the same groups from the
same collected ids and runs the group's trials concurrently. Every other test is its own
scope, scheduled one by one as under `--dist load`.

A worker that dies: its unfinished trials go back to the queue, as in xdist, but the trial
it was running is named to `on_crash` first (session/crashes.py), so that the worker it goes
to next records it instead of running it and crashing too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from pytest_crucible.session.lookahead import assign_groups

__all__ = ["TrialGroupScheduling"]

# an xdist worker runs an item once it holds the next one too (or is told to shut down)
_RUNNABLE = 2


class TrialGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
    def __init__(
        self,
        config: pytest.Config,
        log: Any = None,
        *,
        group_count: int,
        on_crash: Callable[[str, Any], None] | None = None,
    ) -> None:
        super().__init__(config, log)
        self._group_count = group_count
        self._groups: dict[str, str] | None = None
        self._on_crash = on_crash

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:
            self._groups = assign_groups(self.collection, self._group_count)
        return self._groups.get(nodeid, nodeid)

    def remove_node(self, node: Any) -> str | None:
        """xdist's, but the trial a crashed worker was running is named before it and the
        worker's other unfinished items are queued again."""
        workload = self.assigned_work.get(node, {})
        running = next(
            (nodeid for unit in workload.values() for nodeid, done in unit.items() if not done),
            None,
        )
        # a trial only: another test keeps xdist's way (sent again; its crash reported)
        trials = self._groups or {}
        if running is not None and running in trials and self._on_crash is not None:
            self._on_crash(running, node)
        crashitem: str | None = super().remove_node(node)
        return crashitem

    def mark_test_pending(self, item: str) -> None:
        """`pytest_handlecrashitem` may ask for it: `remove_node` has queued it already."""

    def _reschedule(self, node: Any) -> None:
        """xdist's, which sends at most one unit per call. A worker runs its last queued
        item only once it is sent another or told to shut down, so a worker sent a single
        item (a new worker after a crash) waited forever: send units until it holds two
        items, and shut it down when no unit is left. A worker started after a crash that
        has not sent its collection yet is left alone: its collection reschedules it (xdist
        reschedules every node whenever any collection arrives)."""
        if node not in self.registered_collections:
            return
        super()._reschedule(node)
        if node.shutting_down:
            return
        while self.workqueue and self._pending_of(self.assigned_work[node]) < _RUNNABLE:
            self._assign_work_unit(node)
        if not self.workqueue:
            node.shutdown()
