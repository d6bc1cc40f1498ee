"""The process's event loop: one asyncio loop in a daemon thread, conditions sync or async.

Async trial functions and async conditions run on a background event loop owned by the
process (`LoopThread`); sync conditions called from async code run on the loop's thread pool.
Keeping a loop alive across items is what lets many trials be in flight per process: a
scheduler can start trials ahead of pytest's call phase and await them there.

The loop says when it waits for I/O with nothing ready to run (`wait_idle`): pytest's thread
then makes its reports without taking the GIL from the loop while a burst of answers comes in
and the next requests go out.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from pytest_crucible.util.threads import DaemonThreadPool
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["LoopThread"]

T = TypeVar("T")

# A user's error (a trial function's, a condition's) shows the user's frames, not the loop's.
__tracebackhide__ = hide_library_frames


class LoopThread:
    """An asyncio event loop running in a daemon thread, started on first use.

    Sync conditions of async trials run in its default executor, whose threads are daemons
    too (util/threads.py): a call still hanging when pytest gave up on its item
    (pytest-timeout) does not keep the process alive at its end.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._executor = DaemonThreadPool(_CALL_THREADS, thread_name_prefix="crucible-call")
        self._selector: _IdleSelector | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = self._new_loop()
                loop.set_default_executor(self._executor)
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    _serve_until_closed(loop)

                self._thread = threading.Thread(target=serve, name="crucible-loop", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        if os.name != "posix":  # Windows: its default loop (proactor) has no selector
            return asyncio.new_event_loop()
        self._selector = _IdleSelector()
        return asyncio.SelectorEventLoop(self._selector)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the loop waits for I/O with nothing ready to run, at most `timeout`
        seconds; whether it does (True too with no loop, or where it cannot tell)."""
        selector = self._selector
        return selector is None or selector.idle.wait(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule a coroutine on the loop; the returned future can be waited on anywhere."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for its result in the calling thread."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("LoopThread.run called from its own loop; await instead")
        return self.submit(coro).result()

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def close(self) -> None:
        """Cancel what is still pending, stop the loop and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            self._selector = None  # nothing to wait for any more
        if loop is None or thread is None:
            return

        async def cancel_pending() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_asyncgens()  # closes backends' async clients on this loop

        asyncio.run_coroutine_threadsafe(cancel_pending(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._executor.shutdown(wait=False, cancel_futures=True)  # a hung call is abandoned
        loop.close()


class _IdleSelector(selectors.DefaultSelector):
    """The loop's selector, which knows when the loop blocks on it: the loop passes a
    timeout of 0 while callbacks are ready to run, a longer one (or None) when it waits."""

    def __init__(self) -> None:
        super().__init__()
        self.idle = threading.Event()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout > 0:
            self.idle.set()
        try:
            return super().select(timeout)
        finally:
            self.idle.clear()


# as ThreadPoolExecutor's default size (asyncio's default executor)
_CALL_THREADS = min(32, (os.cpu_count() or 1) + 4)


def _serve_until_closed(loop: asyncio.AbstractEventLoop) -> None:
    """Run the loop until `close()` stops it. A task that raises SystemExit or
    KeyboardInterrupt (a condition's `sys.exit()`, an interrupt raised by user code) stores it
    as its result, then asyncio lets it escape `run_forever`: serving on keeps the loop alive,
    so the task's waiter gets the exception (as the trial's failure or a graceful stop)
    instead of waiting forever on a dead loop."""
    while True:
        try:
            loop.run_forever()
        except (SystemExit, KeyboardInterrupt):
            continue
        return
