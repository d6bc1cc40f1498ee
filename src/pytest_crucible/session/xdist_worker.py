"""The worker's end of pytest-xdist (worker role, in an xdist worker process).

`XdistLink` is the worker's `ControllerLink` (link.py) there: the session inputs, the store's
path and what resumed runs had spent come from `workerinput`; the controller's stops and
crashes come through the stop file (guard.StopSignal); at the end the worker's results go
back in `workeroutput`. Registered as a plugin, it also escapes what execnet cannot send.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.session.beacon import Beacon
from pytest_crucible.session.call_setup import CallSetup
from pytest_crucible.session.guard import StopSignal
from pytest_crucible.session.inputs import SessionInputs
from pytest_crucible.store.journal import Journal
from pytest_crucible.util.utf8 import escape_unencodable, has_unencodable

if TYPE_CHECKING:
    from collections.abc import Generator

    from pytest_crucible.declare.plan import Plan
    from pytest_crucible.session.link import WorkerResults

__all__ = ["XdistLink"]


class XdistLink:
    owns_every_item = False  # a worker owns the trial groups it was sent

    def __init__(self, config: pytest.Config) -> None:
        workerinput = config.workerinput  # type: ignore[attr-defined]
        self._config = config
        self.worker_id: str = workerinput.get("workerid", "main")
        self.inputs = SessionInputs.from_json(workerinput["crucible"])
        self.plans: dict[str, Plan] = {}
        self.group_count: int = workerinput.get("crucible_groups", 0)
        self.journal: Journal | None = Journal(Path(workerinput["crucible_journals"]))
        self.store_location = str(workerinput["crucible_store"])
        self.calls = CallSetup(
            config,
            store_location=workerinput["crucible_store"],
            processes=int(workerinput.get("workercount", 1)),
            spent_before=workerinput.get("crucible_spent", {}),
        )
        stop_path = workerinput.get("crucible_stop")
        self._stop_signal = StopSignal(Path(stop_path)) if stop_path else None
        self._beacons: str | None = workerinput.get("crucible_progress")
        self._beacon: Beacon | None = None

    def stopped(self) -> Mapping[str, str]:
        return self._stop_signal.received() if self._stop_signal is not None else {}

    def crashes(self) -> Mapping[str, Mapping[str, Any]]:
        return self._stop_signal.crashes() if self._stop_signal is not None else {}

    def warn(self, message: str) -> None:
        warnings.warn(pytest.PytestWarning(message), stacklevel=2)

    def watch(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        if self._beacons is not None and self._beacon is None:
            self._beacon = Beacon(Path(self._beacons), self.worker_id, snapshot)
            self._beacon.start()

    def hand_over(self, results: WorkerResults) -> None:
        if self._beacon is not None:
            self._beacon.stop()
            self._beacon.write()  # nothing in flight any more
        self.calls.close()
        if self.journal is not None:
            self.journal.close()  # unlocked: the controller imports what it lacks
        self._config.workeroutput.update(results.to_json())  # type: ignore[attr-defined]

    @pytest.hookimpl(wrapper=True)
    def pytest_report_to_serializable(
        self, report: pytest.TestReport
    ) -> Generator[None, dict[str, Any] | None, dict[str, Any] | None]:
        """Escape text UTF-8 cannot encode in a report (its error, its captured output)
        before execnet sends it, which would fail with INTERNALERROR."""
        data = yield
        if data is None or not has_unencodable(data):
            return data
        escaped: dict[str, Any] = escape_unencodable(data)
        return escaped
