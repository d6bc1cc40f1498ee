"""Which session holds a run (`holding.py`, issue 14 point 6): refusal and stale holders."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from e2e_support import sql
from pytest_crucible.errors import ResumeError
from pytest_crucible.store.holding import LEASE_S, RunHold, is_stale
from pytest_crucible.store.sqlite import RunHolder, Store, utc_now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "crucible.db")


def _hold_as(store: Store, host: str, pid: int, silent_s: float = 0.0) -> None:
    beat = (datetime.now(UTC) - timedelta(seconds=silent_s)).isoformat(timespec="milliseconds")
    holder = RunHolder(host, pid, beat, beat, LEASE_S)
    assert store.hold_run("r1", holder, lambda other: True) is None


def _holders(store: Store) -> list[tuple[str, int]]:
    return [(row[0], row[1]) for row in sql(store.path, "SELECT host, pid FROM run_holders")]


def test_a_live_process_on_this_host_holds_its_run(store: Store) -> None:
    _hold_as(store, socket.gethostname(), os.getppid())  # our parent: alive
    with pytest.raises(ResumeError) as refused:
        RunHold(store, print).take("r1", "demo", "--crucible-resume")
    message = str(refused.value)
    assert f"pid {os.getppid()} on host {socket.gethostname()}" in message
    assert "--crucible-resume: run r1 of 'demo' is held by another session" in message
    assert _holders(store) == [(socket.gethostname(), os.getppid())]


def test_a_dead_process_or_this_one_is_taken_over(store: Store) -> None:
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    _hold_as(store, socket.gethostname(), int(ended.stdout))
    hold = RunHold(store, print)
    hold.take("r1", "demo", "--crucible-resume")
    assert _holders(store) == [(socket.gethostname(), os.getpid())]
    RunHold(store, print).take("r1", "demo", "--crucible-resume")  # an earlier session of ours
    hold.release()


def test_another_host_holds_until_its_lease_runs_out(store: Store) -> None:
    _hold_as(store, "elsewhere", 1, silent_s=LEASE_S / 2)
    with pytest.raises(ResumeError, match="pid 1 on host elsewhere"):
        RunHold(store, print).take("r1", "demo", "--crucible-resume")
    _hold_as(store, "elsewhere", 1, silent_s=LEASE_S + 5)
    hold = RunHold(store, print)
    hold.take("r1", "demo", "--crucible-resume")
    assert _holders(store) == [(socket.gethostname(), os.getpid())]
    hold.release()
    assert _holders(store) == []


def test_a_heartbeat_keeps_the_hold_fresh(store: Store) -> None:
    hold = RunHold(store, print)
    hold.take("r1", "demo", "--crucible-resume")
    old = sql(store.path, "SELECT heartbeat_at FROM run_holders")[0][0]
    assert store.beat(hold.me, ["r1"]) == 1
    assert sql(store.path, "SELECT heartbeat_at FROM run_holders")[0][0] >= old
    assert not is_stale(RunHolder("elsewhere", 1, old, utc_now(), LEASE_S))
    hold.release()
    assert store.beat(hold.me, ["r1"]) == 0
