"""The xdist scheduler of `pytest --crucible -n N`: trials go to workers in whole groups.

pytest-xdist's load scheduler hands out items a few at a time, so a worker never knows
which trial comes next and cannot start it ahead. This scheduler is xdist's scope scheduler
with trials grouped by `assign_groups` (each trial function's trials cut into 2 x N
contiguous runs): a group goes whole to one worker, which computes the same groups from the
same collected ids and runs the group's trials concurrently. Every other test is its own
scope, scheduled one by one as under `--dist load`.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from .lookahead import assign_groups

__all__ = ["TrialGroupScheduling"]


class TrialGroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
    def __init__(self, config: pytest.Config, log: Any = None, *, group_count: int) -> None:
        super().__init__(config, log)
        self._group_count = group_count
        self._groups: dict[str, str] | None = None

    def _split_scope(self, nodeid: str) -> str:
        if self._groups is None:
            self._groups = assign_groups(self.collection, self._group_count)
        return self._groups.get(nodeid, nodeid)
