"""What a worker needs from its controller, and what it hands back (both roles).

The worker (worker.py) collects and runs trials; the controller (controller.py) owns the
store and the run. A worker reaches its controller only through a `ControllerLink`:
- in a run without xdist, `InProcessLink` (in_process.py) calls the controller itself;
- on an xdist worker, `XdistLink` (xdist_worker.py) reads `workerinput` and the stop file,
  keeps its progress beacon (beacon.py), and hands its results back in `workeroutput`.

`WorkerResults` is what a worker hands over at its session end; its JSON form is what
travels in `workeroutput`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pytest_crucible.declare.plan import Plan
    from pytest_crucible.session.call_setup import CallSetup
    from pytest_crucible.session.inputs import SessionInputs
    from pytest_crucible.store.journal import Journal

__all__ = ["ControllerLink", "WorkerResults"]


@dataclass
class WorkerResults:
    """A worker's hand-over at its session end.

    `unreported`: payloads of trials that finished ahead of items pytest never ran;
    `collected`: per experiment, how many trials the resumed run already had (deselected);
    `estimates`: per experiment, the `--crucible-estimate` text.
    """

    unreported: list[dict[str, Any]] = field(default_factory=list)
    collected: dict[str, int] = field(default_factory=dict)
    estimates: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "crucible_unreported": self.unreported,
            "crucible_collected": self.collected,
            "crucible_estimates": self.estimates,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkerResults:
        """From a worker's `workeroutput` (empty when the worker died before its end)."""
        return cls(
            unreported=list(data.get("crucible_unreported", [])),
            collected=dict(data.get("crucible_collected", {})),
            estimates=dict(data.get("crucible_estimates", {})),
        )


class ControllerLink(Protocol):
    """The worker's view of its controller."""

    worker_id: str  # the xdist worker's id, or "main"
    inputs: SessionInputs  # fixed by the controller
    calls: CallSetup  # this process's model-call set-up
    plans: dict[str, Plan]  # this process's plans, by experiment (the worker adds them)
    journal: Journal | None  # where trials finished ahead are journalled at once
    store_location: str  # the store's location, for a connection of the worker's own
    owns_every_item: bool  # no xdist: every collected item runs in this process
    group_count: int  # trial groups per trial function under xdist (0: none)

    def stopped(self) -> Mapping[str, str]:
        """Experiments stopped (a breaker, an abort, a full disk), with the reason."""

    def crashes(self) -> Mapping[str, Mapping[str, Any]]:
        """Trials that crashed a worker (node id -> crash), for the crash verdicts."""

    def warn(self, message: str) -> None:
        """A warning for the session's summary."""

    def hand_over(self, results: WorkerResults) -> None:
        """At the worker's session end: what only the worker knows."""

    def watch(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        """From collection on: what the worker collected and runs now, for the progress
        display (`Worker.snapshot`, read from another thread)."""
