"""Committing trial results on a thread of their own.

The controller hands each result to `TrialWriter.put` and goes on with pytest's work while a
writer thread, with its own SQLite connection, commits it within milliseconds: the thread
waits `GATHER_S` after a result arrives, then commits it with whatever else arrived meanwhile
in one transaction (`Store.record_trials`). Every SQLite statement releases the GIL and has
to take it back from pytest's busy thread; committing trials one by one made those handovers
cost trivial trials a sixth of their run time. At session end `flush` waits for the queue to
drain (or for the thread to end: it never waits on a dead one). A result the store refuses
goes to the controller's journal (`journal.py`), which the next session or `crucible import`
imports; when the disk is full even for that, `full` says so and the session stops starting
trials.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_crucible.errors import StoreError, StoreFullError
from pytest_crucible.store.journal import Journal, disk_full
from pytest_crucible.store.opening import open_store
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.rows import Job

__all__ = ["TrialWriter"]

_MAX_BATCH = 500
GATHER_S = 0.02  # seconds a result may wait for others to share its commit


class TrialWriter:
    def __init__(
        self,
        location: str | Path,
        warn: Callable[[str], None],
        journal: Journal,
        side_folder: Path | None = None,
    ) -> None:
        """`location`: the store's, unmasked (this thread opens its own connection)."""
        self.store = open_store(location, side_folder=side_folder)
        self.journal = journal
        self.full: StoreError | None = None  # why nothing more can be written, once it is so
        self._warn = warn
        self._headers: dict[str, Mapping[str, Any]] = {}
        self._rescued = {"saved": 0, "lost": 0}  # said once each, counted at close
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="crucible-writer", daemon=True)
        self._thread.start()

    def open_run(self, run_id: str, header: Mapping[str, Any]) -> None:
        """The header of a run whose results may come: a rescued result carries it."""
        self._headers[run_id] = header

    def put(self, run_id: str, record: TrialRecord, worker: str) -> None:
        self._jobs.put((run_id, record, worker))

    def flush(self) -> None:
        """Wait until every result handed over so far is committed (or rescued)."""
        done = self._jobs.all_tasks_done
        with done:
            while self._jobs.unfinished_tasks:
                if not self._thread.is_alive():  # cannot happen; never wait for it forever
                    self._warn(f"{self._jobs.unfinished_tasks} result(s) were not stored")
                    return
                done.wait(0.1)

    def close(self) -> None:
        self.flush()
        self._jobs.put(None)
        self._thread.join(timeout=10)
        self.store.close()
        saved, lost = self._rescued["saved"], self._rescued["lost"]
        if saved > 1:
            self._warn(f"in all {saved} results the store refused were saved to the journal")
        if lost > 1:
            self._warn(f"in all {lost} results could be saved neither to the store nor the journal")

    def _serve(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._next_batch()
            try:
                self._store(batch)
            except BaseException as exc:  # the thread must live on: flush waits for it
                self._warn(f"the store's writer failed ({type(exc).__name__}: {exc})")
            finally:
                for _ in range(len(batch) + stop):
                    self._jobs.task_done()

    def _store(self, batch: list[Job]) -> None:
        if not batch:
            return
        try:
            self.store.record_trials(batch)
        except Exception:  # the batch rolled back: store one by one, rescue what fails
            for job in batch:
                self._record_one(job)

    def _next_batch(self) -> tuple[list[Job], bool]:
        """The next result (waiting for it) and whatever else is already queued."""
        batch: list[Job] = []
        job = self._jobs.get()
        if job is not None:
            time.sleep(GATHER_S)
        while job is not None:
            batch.append(job)
            if len(batch) >= _MAX_BATCH:
                return batch, False
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _record_one(self, job: Job) -> None:
        run_id, record, worker = job
        try:
            self.store.record_trial(run_id, record, worker)
        except StoreError as exc:
            self._rescue(run_id, record, worker, exc)
        except Exception as exc:  # never lose a result to an unexpected error either
            self._rescue(run_id, record, worker, StoreError(f"{type(exc).__name__}: {exc}"))

    def _rescue(self, run_id: str, record: TrialRecord, worker: str, exc: StoreError) -> None:
        if isinstance(exc, StoreFullError) and self.full is None:
            self.full = exc
        try:
            self.journal.append(run_id, self._headers.get(run_id), record, worker)
        except OSError as error:
            if disk_full(error) and self.full is None:
                self.full = StoreFullError(f"{exc}; the journal {self.journal.path}: {error}")
            self._rescued["lost"] += 1
            if self._rescued["lost"] == 1:
                self._warn(f"{exc}; the result of trial {record.name} is lost ({error})")
            return
        self._rescued["saved"] += 1
        if self._rescued["saved"] == 1:
            self._warn(
                f"{exc}; the result was saved to {self.journal.path} (the next run or "
                "`crucible import` stores it)"
            )
