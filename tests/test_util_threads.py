"""The daemon thread pool of trials and sync calls (util/threads.py)."""

from __future__ import annotations

import threading

import pytest

from pytest_crucible.util.threads import DaemonThreadPool


def test_it_runs_calls_on_daemon_threads_and_passes_results_and_errors_back() -> None:
    pool = DaemonThreadPool(2, thread_name_prefix="t")
    try:
        daemon = pool.submit(lambda: threading.current_thread().daemon).result(timeout=30)
        assert daemon is True
        assert pool.submit(lambda a, b: a + b, 2, b=3).result(timeout=30) == 5
        with pytest.raises(SystemExit):  # as ThreadPoolExecutor: it reaches the waiter
            pool.submit(lambda: exec("raise SystemExit(3)")).result(timeout=30)
    finally:
        pool.shutdown(wait=True)


def test_shutdown_cancels_queued_calls_without_waiting_for_a_running_one() -> None:
    pool = DaemonThreadPool(1, thread_name_prefix="t")
    started, release = threading.Event(), threading.Event()

    def hang() -> None:
        started.set()
        release.wait(60)

    running = pool.submit(hang)
    queued = pool.submit(lambda: "never")
    assert started.wait(30)
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled() and not running.done()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: None)
    release.set()
    assert running.result(timeout=30) is None
