"""Committing trial results on a thread of their own.

The controller hands each result to `TrialWriter.put` and goes on with pytest's work while a
writer thread, with its own SQLite connection, commits it within milliseconds: the thread
waits `GATHER_S` after a result arrives, then commits it with whatever else arrived meanwhile
in one transaction (`Store.record_trials`). Every SQLite statement releases the GIL and has
to take it back from pytest's busy thread; committing trials one by one made those handovers
cost trivial trials a sixth of their run time. At session end `flush` waits for the queue to
drain. A result the store refuses goes to a JSONL rescue file beside it: a result is never
dropped.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .errors import StoreError
from .store import Store

__all__ = ["TrialWriter"]

_Job = tuple[str, Mapping[str, Any], str]
_MAX_BATCH = 500
GATHER_S = 0.02  # seconds a result may wait for others to share its commit


class TrialWriter:
    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        self.store = Store(path)
        self.rescue_path = path.with_name(path.name + ".rescue.jsonl")
        self._warn = warn
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="crucible-writer", daemon=True)
        self._thread.start()

    def put(self, run_id: str, result: Mapping[str, Any], worker: str) -> None:
        self._jobs.put((run_id, result, worker))

    def flush(self) -> None:
        """Wait until every result handed over so far is committed (or rescued)."""
        self._jobs.join()

    def close(self) -> None:
        self.flush()
        self._jobs.put(None)
        self._thread.join(timeout=10)
        self.store.close()

    def _serve(self) -> None:
        stop = False
        while not stop:
            batch, stop = self._next_batch()
            try:
                self.store.record_trials(batch)
            except Exception:  # the batch rolled back: store one by one, rescue what fails
                for job in batch:
                    self._record_one(job)
            finally:
                for _ in range(len(batch) + stop):
                    self._jobs.task_done()

    def _next_batch(self) -> tuple[list[_Job], bool]:
        """The next result (waiting for it) and whatever else is already queued."""
        batch: list[_Job] = []
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

    def _record_one(self, job: _Job) -> None:
        run_id, result, worker = job
        try:
            self.store.record_trial(run_id, result, worker)
        except StoreError as exc:
            self._rescue(run_id, result, exc)
        except Exception as exc:  # never lose a result to an unexpected error either
            self._rescue(run_id, result, StoreError(f"{type(exc).__name__}: {exc}"))

    def _rescue(self, run_id: str, result: Mapping[str, Any], exc: StoreError) -> None:
        with self.rescue_path.open("a", encoding="utf-8") as rescue:
            rescue.write(json.dumps({"run_id": run_id, "trial": result}, default=repr) + "\n")
        self._warn(f"{exc}; the result was saved to {self.rescue_path}")
