"""Live runs: one poller per watched run, shared by every browser watching it.

A run's `Feed` asks the store every `interval` seconds for the run's progress (one cheap
query) and its new log lines (one query from the last line's id); only when the progress
changed does it read the pages of trials its watchers look at (each page once, whatever the
number of watchers). Twenty browsers on one run cost the store what one does. The feed stops
when its last watcher leaves.

A watcher gets events (`Event`): "progress" (watch.progress), "trials" (its page of
watch.trials), "logs" (new lines that pass its filters) and "problem" (the store could not be
read this time: the message; polling goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pytest_crucible.console import watch
from pytest_crucible.console.web.access import StoreAccess
from pytest_crucible.errors import CrucibleError
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.locations import masked_in

__all__ = ["Event", "Feeds", "View", "problem"]

POLL_INTERVAL_S = 0.4
_LOG_BATCH = 500


@dataclass(frozen=True)
class View:
    """What one watcher looks at: a page of trials and the log filters."""

    offset: int = 0
    limit: int = 50
    condition: str | None = None
    item: str | None = None
    status: str | None = None
    level: str | None = None
    after_id: int = 0  # the log lines it has already

    @property
    def page(self) -> tuple[int, int, str | None, str | None, str | None]:
        return (self.offset, self.limit, self.condition, self.item, self.status)

    def shows(self, line: dict[str, Any]) -> bool:
        return (
            (self.level is None or str(line["level"]).lower() == self.level)
            and (self.condition is None or line["condition"] == self.condition)
            and (self.item is None or line["item_id"] == self.item)
        )


@dataclass(frozen=True)
class Event:
    kind: str  # progress | trials | logs | problem
    data: Any


@dataclass(eq=False)
class _Watcher:
    view: View
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)


@dataclass
class _Reading:
    """What one poll found (None: unchanged since the last poll)."""

    marker: tuple[Any, ...]
    progress: dict[str, Any] | None = None
    pages: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)


class Feed:
    """The poller of one run."""

    def __init__(self, access: StoreAccess, run_id: str, interval: float) -> None:
        self._access = access
        self._run_id = run_id
        self._interval = interval
        self.watchers: set[_Watcher] = set()
        self.log_cursor: int | None = None  # set by the first watcher's catch-up
        self._marker: tuple[Any, ...] | None = None
        self._task: asyncio.Task[None] | None = None
        self.polls = 0  # how many times it asked the store (for tests and benchmarks)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._poll_forever())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _poll_forever(self) -> None:
        # a finished run is polled too while watched (one cheap query): it may be resumed
        while True:
            try:
                await self._poll_once()
            except Exception as exc:
                self._broadcast(Event("problem", {"message": problem(exc)}))
            await asyncio.sleep(self._interval)

    async def _poll_once(self) -> None:
        pages = {watcher.view.page for watcher in self.watchers}
        self.polls += 1
        reading = await self._access.read(self._read, pages, self._marker, self.log_cursor)
        if reading.lines:
            self.log_cursor = reading.lines[-1]["id"]
            self._broadcast(Event("logs", reading.lines))
        if reading.progress is not None:
            self._marker = reading.marker
            self._broadcast(Event("progress", reading.progress))
            for watcher in list(self.watchers):
                page = reading.pages.get(watcher.view.page)
                if page is not None:
                    watcher.queue.put_nowait(Event("trials", page))

    def _read(
        self,
        store: ResultStore,
        pages: set[tuple[Any, ...]],
        last: tuple[Any, ...] | None,
        log_cursor: int | None,
    ) -> _Reading:
        """On the store's thread: the progress marker, and what changed since `last`."""
        state = store.run_progress(self._run_id)
        marker = (state.stored, state.last_stored_at, state.status, state.cancel_requested)
        reading = _Reading(marker)
        if log_cursor is not None:
            found = store.log_page(self._run_id, after_id=log_cursor, limit=_LOG_BATCH)
            reading.lines = [dataclasses.asdict(line) for line in found]
        if marker != last:
            reading.progress = watch.progress(store, self._run_id)
            reading.pages = {page: _trials(store, self._run_id, page) for page in pages}
        return reading

    def _broadcast(self, event: Event) -> None:
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(event)


def problem(exc: BaseException) -> str:
    """What a watcher is told when the store could not be read (a URL in it masked)."""
    if isinstance(exc, CrucibleError):
        return masked_in(str(exc))
    return masked_in(f"the store could not be read ({type(exc).__name__}: {exc}); retrying")


def _trials(store: ResultStore, run_id: str, page: tuple[Any, ...]) -> dict[str, Any]:
    offset, limit, condition, item, status = page
    return watch.trials(store, run_id, offset, limit, condition, item, status)


class Feeds:
    """Every run being watched: its `Feed`, made by its first watcher, stopped by its last."""

    def __init__(self, access: StoreAccess, interval: float = POLL_INTERVAL_S) -> None:
        self._access = access
        self._interval = interval
        self.feeds: dict[str, Feed] = {}

    async def events(self, run_id: str, view: View) -> AsyncIterator[Event]:
        """A watcher's events: the progress and its trials page at once, the log lines it
        has not seen (read in batches), then whatever the run's feed finds."""
        await self._access.read(watch.progress, run_id)  # an unknown run: NotFound, at once
        async with self._watching(run_id, view) as (feed, watcher):
            yield Event("progress", await self._access.read(watch.progress, run_id))
            yield Event("trials", await self._access.read(_trials, run_id, view.page))
            cursor = view.after_id
            async for lines in self._catch_up(run_id, view, cursor):
                cursor = lines[-1]["id"]
                yield Event("logs", lines)
            if feed.log_cursor is None:
                feed.log_cursor = cursor
            while True:
                event = await watcher.queue.get()
                if event.kind != "logs":
                    yield event
                    continue
                lines = [line for line in event.data if line["id"] > cursor and view.shows(line)]
                if lines:
                    cursor = lines[-1]["id"]
                    yield Event("logs", lines)

    async def _catch_up(
        self, run_id: str, view: View, cursor: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        while True:
            found = await self._access.read(
                watch.logs,
                run_id,
                after_id=cursor,
                limit=_LOG_BATCH,
                level=view.level,
                condition=view.condition,
                item=view.item,
            )
            if found["lines"]:
                cursor = found["after_id"]
                yield found["lines"]
            if len(found["lines"]) < _LOG_BATCH:
                return

    @contextlib.asynccontextmanager
    async def _watching(self, run_id: str, view: View) -> AsyncIterator[tuple[Feed, _Watcher]]:
        feed = self.feeds.get(run_id)
        if feed is None:
            feed = self.feeds[run_id] = Feed(self._access, run_id, self._interval)
            feed.start()
        watcher = _Watcher(view)
        feed.watchers.add(watcher)
        try:
            yield feed, watcher
        finally:
            feed.watchers.discard(watcher)
            if not feed.watchers and self.feeds.get(run_id) is feed:
                feed.stop()
                del self.feeds[run_id]
