"""A thread pool whose threads never keep the process alive.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the interpreter exits. A sync
trial that pytest gave up on (pytest-timeout failed its item while its condition hangs) would
then hold the process for as long as it hangs, long after pytest's report. Python cannot
stop a thread, so the pool's threads are daemons instead: what still runs at exit is
abandoned (its item has already been reported).
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["DaemonThreadPool"]

# a user's error raised in a pooled call shows the user's frames, not this module's
__tracebackhide__ = hide_library_frames

T = TypeVar("T")
_Work = tuple[Future[Any], Callable[[], Any]]


class DaemonThreadPool(ThreadPoolExecutor):
    """At most `max_workers` daemon threads, started as work arrives and reused when idle
    (as ThreadPoolExecutor does).

    A ThreadPoolExecutor only by type, which asyncio requires of a loop's default executor:
    it shares none of its state (not calling its __init__ keeps its threads out of the
    registry that the interpreter joins at exit)."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        self._max_workers = max_workers
        self._prefix = thread_name_prefix
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._queue.put((future, functools.partial(fn, *args, **kwargs)))
            if not self._idle.acquire(blocking=False) and len(self._workers) < self._max_workers:
                self._start_thread()
        return future

    def _start_thread(self) -> None:
        name = f"{self._prefix}_{len(self._workers)}"
        thread = threading.Thread(target=self._serve, name=name, daemon=True)
        thread.start()
        self._workers.append(thread)

    def _serve(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:  # shut down: wake the next thread too
                self._queue.put(None)
                return
            _run(*work)
            del work  # no reference to a finished call's result while idle
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                self._cancel_queued()
            self._queue.put(None)
        if wait:
            for thread in self._workers:
                thread.join()

    def _cancel_queued(self) -> None:
        while True:
            try:
                work = self._queue.get_nowait()
            except queue.Empty:
                return
            if work is not None:
                work[0].cancel()


def _run(future: Future[Any], call: Callable[[], Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = call()
    except BaseException as exc:  # as ThreadPoolExecutor: SystemExit reaches the waiter
        future.set_exception(exc)
    else:
        future.set_result(result)
