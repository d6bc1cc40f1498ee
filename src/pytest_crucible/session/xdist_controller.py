"""The controller's pytest-xdist hooks (controller role, under `-n N`).

What the workers must share is sent in `workerinput` (`pytest_configure_node`); what they
hand back arrives in `workeroutput` (`pytest_testnodedown`). The scheduler sends trials in
groups (scheduling.py), and a worker that dies is answered as crashes.py says. The hooks are
optional: without xdist pytest never calls them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.session.internals import is_crash_report, show_as_crash
from pytest_crucible.session.link import WorkerResults
from pytest_crucible.store.journal import journal_folder

if TYPE_CHECKING:
    from pytest_crucible.session.controller import Controller

__all__ = ["XdistController", "group_count"]


def group_count(config: pytest.Config) -> int:
    """Trial groups per trial function under xdist (0: xdist schedules as the user said)."""
    if getattr(config.option, "dist", "no") != "load":
        return 0
    return 2 * max(1, int(config.option.numprocesses or 1))


class XdistController:
    def __init__(self, controller: Controller) -> None:
        self._controller = controller

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        controller = self._controller
        node.workerinput["crucible"] = controller.inputs.to_json()
        # unmasked: a worker's call cache opens the store (workerinput is never shown)
        node.workerinput["crucible_store"] = controller.location
        node.workerinput["crucible_journals"] = str(journal_folder(controller.store))
        node.workerinput["crucible_spent"] = controller.calls.spending.spent_before
        node.workerinput["crucible_groups"] = group_count(controller.config)
        node.workerinput["crucible_stop"] = str(controller.guard.signal.path)
        beacons = controller.display.beacon_folder()
        if beacons is not None:
            node.workerinput["crucible_progress"] = str(beacons)

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        count = group_count(config)
        if not count:
            return None
        from pytest_crucible.session.scheduling import TrialGroupScheduling

        on_crash = self._controller.crashes.crashed
        return TrialGroupScheduling(config, log, group_count=count, on_crash=on_crash)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport) -> None:
        """xdist's report of the trial a worker died running: not a failure of its own, as
        the trial's own report follows (crashes.py); shown as a rerun."""
        if crashitem in self._controller.crashes.crashes:
            show_as_crash(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> Any:
        if is_crash_report(report):
            return "rerun", "R", ("WORKER CRASHED", {"yellow": True})
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self._controller.receive(WorkerResults.from_json(output))
        worker_id = getattr(node, "workerinput", {}).get("workerid")
        if worker_id:
            self._controller.display.forget_worker(worker_id)
