"""The process's event loop (run/loop_thread.py) says when it waits for I/O with nothing to
run; an item whose trial is done waits for that before its report (session/prefetch.py), so
that pytest's thread does not take the GIL from a burst of answers and new requests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from pytest_crucible.run.loop_thread import LoopThread
from pytest_crucible.run.runner import ActiveTrial
from pytest_crucible.session import prefetch
from pytest_crucible.session.prefetch import Prefetcher

WAIT_S = 60.0  # generous: the machine may be busy


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


def _block(loop: LoopThread) -> threading.Event:
    """Keep the loop's thread in a callback (busy, not waiting for I/O) until the returned
    event is set."""
    started, release = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        release.wait(WAIT_S)

    loop.loop.call_soon_threadsafe(busy)
    assert started.wait(WAIT_S)
    return release


def _never(item: pytest.Item) -> ActiveTrial:
    raise AssertionError("no trial starts here")


def test_wait_idle_waits_while_the_loop_runs_a_callback(loop: LoopThread) -> None:
    assert loop.wait_idle(0)  # no loop yet: nothing to wait for
    assert loop.run(asyncio.sleep(0, result="ran")) == "ran"
    assert loop.wait_idle(WAIT_S)  # it waits for I/O again
    release = _block(loop)
    try:
        assert not loop.wait_idle(0.05)  # busy: the wait runs out
    finally:
        release.set()
    assert loop.wait_idle(WAIT_S)
    loop.close()
    assert loop.wait_idle(0)  # closed: nothing to wait for


def test_items_stop_waiting_for_a_loop_that_stays_busy(
    loop: LoopThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop kept busy (CPU-bound trials) would hold each report back the whole wait: after
    one wait in vain, the next items do not wait."""
    prefetcher = Prefetcher(loop, make_active=_never, upcoming=lambda item, count: [])
    waits: list[bool] = []
    wait_idle = loop.wait_idle

    def counted(timeout: float) -> bool:
        waits.append(wait_idle(timeout))
        return waits[-1]

    monkeypatch.setattr(loop, "wait_idle", counted)
    loop.run(asyncio.sleep(0))
    prefetcher._after_loop_burst()
    assert waits == [True]  # an idle loop: no wait
    release = _block(loop)
    try:
        prefetcher._after_loop_burst()
        assert waits == [True, False]  # in vain
        for _ in range(prefetch._ITEMS_AFTER_BUSY_LOOP):
            prefetcher._after_loop_burst()
        assert len(waits) == 2  # those items did not wait
    finally:
        release.set()
    prefetcher._after_loop_burst()
    assert waits[2:] == [True]  # and the next one waits again
