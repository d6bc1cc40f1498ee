"""Many trials in flight per process while pytest still reports one item at a time.

When an item's call phase starts, the prefetcher starts that trial and the next ones of the
same trial function (up to twice the concurrency limit ahead) on the process's event loop;
a semaphore keeps at most `limit` of them running. Each later item then only waits, in its
own call phase, for the trial that was started for it, so pytest's reports, `-x`, JUnit and
pytest-html see one item per trial as before.

What a started trial may use: the plugin's own fixtures (`condition`, `item`, `trial`) and
fixtures of a wider scope than the function (session, package, module, class), whose values
are the same for every item of the function; they are taken from the item that started it.
A trial function that needs a function-scoped fixture runs its trials one at a time.
Which items may start ahead, and which come next, is `lookahead.py`'s to say.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_crucible.run.current_trial import enter_trial
from pytest_crucible.run.loop_thread import LoopThread
from pytest_crucible.run.runner import ActiveTrial, run_trial_async, run_trial_sync
from pytest_crucible.run.stored_values import describe_exception
from pytest_crucible.util.threads import DaemonThreadPool
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Prefetcher", "Started", "interrupted"]

# An item whose trial is done waits up to this long for the loop to finish a burst of work (a
# wave of answers, the next requests) before its report is made: both need the GIL, and the
# reports can wait, the next model calls cannot. A call's time beyond the server's 0.2 s, 90th
# percentile: 47-49 ms before, 24-28 ms after at concurrency 128 in one process; 11-27 ms
# before, 7-19 ms after in three joined processes at 32 each; one process at 32: 6-8 ms both.
_LOOP_BURST_S = 0.02
# after a wait in vain (a loop kept busy, by CPU-bound trials say), this many items do not wait
_ITEMS_AFTER_BUSY_LOOP = 64

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames


class _Gate:
    """Whether a started trial may begin: decided once, under a lock, by whichever comes
    first, the trial taking its slot or `stop()` cancelling it. (Without the lock a trial
    could begin its model call just as it is cancelled: called, but never stored.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "waiting"

    def begin(self) -> bool:
        with self._lock:
            if self._state == "cancelled":
                return False
            self._state = "running"
            return True

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def cancelled(self) -> bool:
        return self._state == "cancelled"

    def cancel(self) -> bool:
        """Cancel a trial that has not begun; False when it is already running."""
        with self._lock:
            if self._state != "waiting":
                return False
            self._state = "cancelled"
            return True


@dataclass
class Started:
    """A trial started ahead of its item."""

    active: ActiveTrial
    future: Future[None]
    gate: _Gate = field(default_factory=_Gate)


class Prefetcher:
    """Starts trials ahead and hands each item its started trial.

    `make_active(item)` builds an item's ActiveTrial (the session's recipe);
    `upcoming(item, n)` lists the next n items that may be started after it (same trial
    function, same xdist group); `may_start(item)` false skips one; `runs_alone(item)` true
    starts none from it on (it runs alone, in its own call phase: session/crashes.py).
    `on_finished(started)` is called (on the loop's thread) as each started trial ends,
    before its item may report it: the session journals it.
    """

    def __init__(
        self,
        loop: LoopThread,
        make_active: Callable[[pytest.Item], ActiveTrial],
        upcoming: Callable[[pytest.Item, int], Sequence[pytest.Item]],
        may_start: Callable[[pytest.Item], bool] = lambda item: True,
        runs_alone: Callable[[pytest.Item], bool] = lambda item: False,
        on_finished: Callable[[Started], None] = lambda started: None,
    ) -> None:
        self._loop = loop
        self._on_finished = on_finished
        self._may_start = may_start
        self._runs_alone = runs_alone
        self._make_active = make_active
        self._upcoming = upcoming
        self._started: dict[str, Started] = {}
        self._semaphores: dict[tuple[int, int], asyncio.Semaphore] = {}
        self._pool: DaemonThreadPool | None = None
        self._pool_size = 0
        self._stopping = False
        self._no_wait_items = 0  # items left that do not wait for the loop (after a vain wait)
        # KeyboardInterrupts raised inside trials started ahead: the run stops as if the
        # user had pressed Ctrl-C, at the next item rather than when that trial's item comes
        self._interrupts: list[BaseException] = []

    def pending(self) -> bool:
        """Whether trials started ahead are waiting for their items (and may be running)."""
        return bool(self._started)

    def running(self) -> list[ActiveTrial]:
        """The trials started ahead that run now (read from the progress beacon's thread:
        a copy of the values, which a dict gives whole under the GIL)."""
        started = list(self._started.values())
        return [s.active for s in started if s.gate.running and not s.future.done()]

    def active_for(self, item: pytest.Item) -> ActiveTrial | None:
        """The trial started ahead for `item` (its setup installs it), if any: not one that
        never began (its run was stopped meanwhile: the setup decides again)."""
        started = self._started.get(item.nodeid)
        if started is not None and started.gate.cancelled:
            del self._started[item.nodeid]
            return None
        return started.active if started is not None else None

    def run(
        self,
        item: pytest.Function,
        function: Callable[..., Any],
        active: ActiveTrial,
        kwargs: dict[str, Any],
        limit: int,
    ) -> None:
        """The call phase of `item` (its trial function `function`, its running trial
        `active`): start it (unless started already) and the next items, then wait for its
        trial and raise what it raised."""
        if self._interrupts:
            # its trial stays started: stop() stores it if it finishes
            raise self._interrupts[0]
        started = self._started.pop(item.nodeid, None)
        if started is None:
            started = self._start(function, active, kwargs, limit)
        if not self._stopping:
            self._top_up(item, kwargs, limit)
        try:
            started.future.result()
        except pytest.fail.Exception as exc:
            if started.future.done():
                raise
            raise _abandoned(started, exc) from None
        finally:
            self._after_loop_burst()

    def _after_loop_burst(self) -> None:
        if self._no_wait_items > 0:
            self._no_wait_items -= 1
        elif not self._loop.wait_idle(_LOOP_BURST_S):
            self._no_wait_items = _ITEMS_AFTER_BUSY_LOOP

    def _top_up(self, item: pytest.Function, kwargs: dict[str, Any], limit: int) -> None:
        for upcoming in self._upcoming(item, 2 * limit):
            if upcoming.nodeid in self._started:
                continue
            if self._runs_alone(upcoming):  # after a crash: nothing in flight with it
                break
            if not self._may_start(upcoming):  # e.g. a spent budget: its setup skips it
                continue
            active = self._make_active(upcoming)
            own = {"condition": active.condition, "item": active.item, "trial": active.trial}
            call_kwargs = {name: own.get(name, value) for name, value in kwargs.items()}
            self._started[upcoming.nodeid] = self._start(
                upcoming.obj,  # type: ignore[attr-defined]
                active,
                call_kwargs,
                limit,
                ahead=True,
            )

    def _start(
        self,
        fn: Callable[..., Any],
        active: ActiveTrial,
        kwargs: dict[str, Any],
        limit: int,
        *,
        ahead: bool = False,
    ) -> Started:
        """Start `active`'s trial; one started `ahead` of its item does not begin if its
        run stopped while it waited for its slot (a cancel, a breaker, a spent budget)."""
        active.trial.concurrent = True
        gate = _Gate()
        semaphore = self._semaphore(limit)
        body: Callable[[], Awaitable[None]]
        if inspect.iscoroutinefunction(fn):
            body = functools.partial(run_trial_async, fn, kwargs, active.trial)
        else:
            body = functools.partial(_in_pool, self._thread_pool(limit), fn, kwargs, active)
        coro = _run_started(body, active, semaphore, gate, self._interrupts, ahead=ahead)
        future = self._loop.submit(coro)
        # the callback holds the parts, not the Started that holds the future: no reference
        # cycle, so each trial's objects are freed as it is done (not by the collector)
        future.add_done_callback(functools.partial(_finished, self._on_finished, active, gate))
        return Started(active, future, gate)

    def _semaphore(self, limit: int) -> asyncio.Semaphore:
        # one limit per (loop, limit): experiments with the same limit share the slots
        key = (id(self._loop.loop), limit)
        semaphore = self._semaphores.get(key)
        if semaphore is None:
            semaphore = self._semaphores[key] = asyncio.Semaphore(limit)
        return semaphore

    def _thread_pool(self, limit: int) -> DaemonThreadPool:
        # daemon threads: a sync trial still running when pytest gave up on its item
        # (pytest-timeout) must not keep the process alive after the report (threads.py)
        if self._pool is None or self._pool_size < limit:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
            self._pool = DaemonThreadPool(max_workers=limit, thread_name_prefix="crucible")
            self._pool_size = limit
        return self._pool

    def stop(self, grace: float) -> list[Started]:
        """No new starts; trials not yet running are cancelled, running ones get `grace`
        seconds to finish (then they are cancelled too). Returns the trials that finished
        (their items were never reported: the caller stores them)."""
        self._stopping = True
        pending = list(self._started.values())
        self._started.clear()
        for started in pending:
            if started.gate.cancel():
                started.future.cancel()
        running = [started.future for started in pending if not started.future.done()]
        if running and grace > 0:
            # said before the wait (and the tests wait for it to send the second Ctrl-C)
            print(
                f"\ncrucible: waiting up to {grace:g} s for {len(running)} running trial(s) "
                "to finish; Ctrl-C again to stop at once",
                file=sys.stderr,
                flush=True,
            )
        # a KeyboardInterrupt (a second Ctrl-C) ends the wait; the caller stops again at 0
        wait(running, timeout=grace)
        finished = []
        for started in pending:
            if not started.future.done():
                started.future.cancel()
            elif not started.future.cancelled() and not interrupted(started):
                finished.append(started)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        return finished


def _finished(
    on_finished: Callable[[Started], None], active: ActiveTrial, gate: _Gate, future: Future[None]
) -> None:
    on_finished(Started(active, future, gate))


def _abandoned(started: Started, failure: BaseException) -> BaseException:
    """The failure of an item failed from outside while its trial still runs (pytest-timeout
    fails it from a signal handler): said without the frames of the wait. Nothing can stop
    a sync call; the trial goes on in a daemon thread, and its item's report stands."""
    trial = started.active.trial
    message = (
        f"{str(failure).rstrip('.')}: trial {trial.spec.test_id} was still running and is "
        "abandoned; what it does from now on is not stored"
    )
    # stored as said, without the frames of the wait (the trial's own are still running)
    trial.error = {
        "type": type(failure).__name__,
        "message": message,
        "where": "call",
        "traceback": "",
    }
    return pytest.fail.Exception(message, pytrace=False)


def interrupted(started: Started) -> bool:
    """Whether a KeyboardInterrupt ended the trial: not finished (as in one process, where
    its item would report nothing), so it is not stored and a resume runs it."""
    return isinstance(started.future.exception(), KeyboardInterrupt)


async def _run_started(
    body: Callable[[], Awaitable[None]],
    active: ActiveTrial,
    semaphore: asyncio.Semaphore,
    gate: _Gate,
    interrupts: list[BaseException],
    *,
    ahead: bool,
) -> None:
    """A started trial: it waits for its slot, then runs `body` as its own trial (one
    started ahead whose run stopped meanwhile never begins)."""
    async with semaphore:
        if ahead and active.trial.cancelled:
            gate.cancel()
        if not gate.begin():  # cancelled before it took its slot
            raise asyncio.CancelledError
        enter_trial(active.trial)  # in this task's own context
        try:
            await body()
        except BaseException as exc:
            _note(active, exc, interrupts)
            raise


def _in_pool(
    pool: DaemonThreadPool, fn: Callable[..., Any], kwargs: dict[str, Any], active: ActiveTrial
) -> asyncio.Future[None]:
    """A sync trial function in the pool, in a copy of the task's context (its trial)."""
    context = contextvars.copy_context()
    return asyncio.get_running_loop().run_in_executor(
        pool, lambda: context.run(run_trial_sync, fn, kwargs, active.trial)
    )


def _note(active: ActiveTrial, exc: BaseException, interrupts: list[BaseException]) -> None:
    if isinstance(exc, KeyboardInterrupt):
        interrupts.append(exc)
    if active.trial.error is None and not isinstance(exc, asyncio.CancelledError):
        active.trial.error = describe_exception(exc, where="trial function")
