"""The server's one connection to the store: opened read-only when first needed (a project
without runs yet has no store file: the server starts anyway), used by one thread at a time
(a SQLite or psycopg connection is not for concurrent use), never on the event loop."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from pytest_crucible.console.errors import NotFound
from pytest_crucible.store import ResultStore, open_store
from pytest_crucible.store.locations import masked, may_exist

__all__ = ["StoreAccess"]

P = ParamSpec("P")
T = TypeVar("T")


class StoreAccess:
    def __init__(self, location: str, side_folder: Any = None) -> None:
        self._location = location
        self._side_folder = side_folder
        self._store: ResultStore | None = None
        self._lock = threading.Lock()

    @property
    def shown(self) -> str:
        """The location as a page may show it (a password masked)."""
        return masked(self._location)

    def call(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`read(store, *args, **kwargs)` under the lock, on the calling thread."""
        with self._lock:
            return read(self._opened(), *args, **kwargs)

    async def read(self, read: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`call` on a worker thread: the event loop never waits for the store."""
        return await run_in_threadpool(self.call, read, *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _opened(self) -> ResultStore:
        if self._store is None:
            if not may_exist(self._location):
                raise NotFound(
                    f"no store at {self.shown} yet: run `pytest --crucible` in the project "
                    "first (or start `crucible serve --store PATH` on an existing store)"
                )
            self._store = open_store(self._location, readonly=True, side_folder=self._side_folder)
        return self._store
