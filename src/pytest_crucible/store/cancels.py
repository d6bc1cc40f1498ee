"""Cancel requests watched by a running session (issue 18).

A run is cancelled from outside its process (`crucible cancel RUN_ID`, the dashboard, an MCP
client) by a row in the store (`ResultStore.request_cancel`). Every session writing a run
polls for that row on a thread of its own, about twice a second, with a connection of its
own: one indexed read per run, never on the trial path. On a request the session is called
back once per run (session/cancelling.py decides what stops).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from pytest_crucible.errors import StoreError
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.opening import open_store

__all__ = ["POLL_S", "CancelWatch"]

POLL_S = 0.5  # how often the store is asked: a cancel is seen within this


class CancelWatch:
    """Polls the store for cancel requests of the runs it follows; `on_request(run_id,
    reason)` is called once per run requested, on the watch's thread."""

    def __init__(
        self,
        location: str,
        side_folder: Path,
        on_request: Callable[[str, str], None],
        interval: float = POLL_S,
    ) -> None:
        """`location`: the store's, unmasked (the thread opens its own connection)."""
        self._location = location
        self._side_folder = side_folder
        self._on_request = on_request
        self._interval = interval
        self._lock = threading.Lock()
        self._followed: list[str] = []
        self._answered: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, run_id: str) -> None:
        """Watch `run_id` too (its request, if any, is answered at the next poll)."""
        with self._lock:
            if run_id in self._followed:
                return
            self._followed.append(run_id)
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._poll, name="crucible-cancel-watch", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Stop polling (safe to call more than once); a request seen later is not acted on."""
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _pending(self) -> list[str]:
        with self._lock:
            return [run_id for run_id in self._followed if run_id not in self._answered]

    def _poll(self) -> None:
        store: ResultStore | None = None
        try:
            while not self._stop.wait(self._interval):
                try:
                    store = store or open_store(
                        self._location, readonly=True, side_folder=self._side_folder
                    )
                    requested = [(r, store.cancel_request(r)) for r in self._pending()]
                except StoreError:
                    continue  # locked or unreachable for a moment: ask again at the next poll
                for run_id, reason in requested:
                    if reason is not None and not self._stop.is_set():
                        self._answered.add(run_id)
                        self._on_request(run_id, reason)
        finally:
            if store is not None:
                store.close()
