"""The xdist scheduler and the crash verdicts of session/crashes.py, without subprocesses
(the end-to-end behaviour: test_e2e_worker_crash.py)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from xdist.remote import Producer

from pytest_crucible.session.crashes import CrashVerdict, crash_verdict
from pytest_crucible.session.scheduling import TrialGroupScheduling

TRIALS = [f"test_x.py::test_t[plain-i{n}-r0]" for n in range(8)]


class FakeNode:
    """What the scheduler uses of an xdist WorkerController."""

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(crashes: list[tuple[str, str]]) -> TrialGroupScheduling:
    config: Any = SimpleNamespace(
        getvalue=lambda name: ["2*popen"], option=SimpleNamespace(loadscopereorder=False)
    )

    def on_crash(nodeid: str, node: Any) -> None:
        crashes.append((nodeid, node.gateway.id))

    log = Producer("test", enabled=False)
    return TrialGroupScheduling(config, log, group_count=4, on_crash=on_crash)


def _start(scheduler: TrialGroupScheduling, *nodes: FakeNode) -> None:
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, TRIALS)
    scheduler.schedule()


def test_a_crashed_workers_trial_is_named_before_it_is_sent_again() -> None:
    crashes: list[tuple[str, str]] = []
    scheduler = _scheduler(crashes)
    first, second = FakeNode("gw0"), FakeNode("gw1")
    _start(scheduler, first, second)
    scheduler.mark_test_complete(first, first.sent[0])

    assert scheduler.remove_node(first) == TRIALS[first.sent[1]]
    assert crashes == [(TRIALS[first.sent[1]], "gw0")]


def test_a_new_worker_sent_one_item_is_not_left_waiting() -> None:
    """An xdist worker runs an item only once it holds the next one or is shut down: the
    worker that replaces a crashed one, sent the crashed group's last item, waited forever."""
    scheduler = _scheduler([])
    first, second = FakeNode("gw0"), FakeNode("gw1")
    _start(scheduler, first, second)
    for index in list(first.sent)[:-1]:  # gw0 dies running its last item
        scheduler.mark_test_complete(first, index)
    scheduler.remove_node(first)
    replacement = FakeNode("gw2")
    scheduler.add_node(replacement)
    scheduler.add_node_collection(replacement, TRIALS)
    scheduler.schedule()

    assert replacement.sent
    assert len(replacement.sent) >= 2 or replacement.shutting_down


def _follows(order: list[str]) -> Any:
    def follows(crashed: str, distance: int, nodeid: str) -> bool:
        return 0 < order.index(nodeid) - order.index(crashed) <= distance

    return follows


def test_crash_verdicts() -> None:
    order = [f"t{n}" for n in range(12)]
    first = {"t3": {"message": "worker gw0 crashed (exit code 1)", "pinned": False}}
    pinned = {"t3": {"message": "worker gw2 crashed (exit code 1)", "pinned": True}}

    def verdict(nodeid: str, crashes: dict[str, Any], limit: int) -> CrashVerdict | None:
        return crash_verdict(nodeid, crashes, limit, lambda c, d: _follows(order)(c, d, nodeid))

    # one trial in flight: the crash is pinned at once
    assert verdict("t3", first, 1) == CrashVerdict(message="worker gw0 crashed (exit code 1)")
    assert verdict("t4", first, 1) is None
    # several: the trial xdist named and those started ahead with it run alone
    assert verdict("t3", first, 4) == CrashVerdict(alone=True)
    assert verdict("t11", first, 4) == CrashVerdict(alone=True)
    assert verdict("t2", first, 4) is None
    # a crash while running alone is pinned
    assert verdict("t3", pinned, 4) == CrashVerdict(message="worker gw2 crashed (exit code 1)")
    assert verdict("t4", pinned, 4) is None
