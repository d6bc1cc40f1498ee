"""A caller waiting in a `RateLimiter`'s queue (`_rate_limiter.py`): a thread blocks on its
own `Event`, a task on its own future, woken from any thread (`call_soon_threadsafe`)."""

from __future__ import annotations

import asyncio
import threading

__all__ = ["Waiter", "resolve"]


class Waiter:
    """A caller in the queue: a thread (`Event`) or a task (a future on its loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.event = threading.Event() if loop is None else None
        self.future: asyncio.Future[None] | None = None

    def arm(self) -> None:
        if self.event is not None:
            self.event.clear()
        else:
            assert self.loop is not None
            self.future = self.loop.create_future()

    def wake(self) -> bool:
        """Wake it (from any thread); False when its event loop is gone."""
        if self.event is not None:
            self.event.set()
            return True
        assert self.loop is not None
        if self.future is None:
            return True  # not armed yet: it checks (under the lock) before it first waits
        try:
            self.loop.call_soon_threadsafe(resolve, self.future)
        except RuntimeError:  # the loop was closed under a waiting task
            return False
        return True


def resolve(future: asyncio.Future[None]) -> None:
    """Wake the task waiting on `future` (on its loop's thread; a timer may race a wake)."""
    if not future.done():
        future.set_result(None)
