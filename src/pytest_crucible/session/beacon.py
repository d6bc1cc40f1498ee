"""How an xdist worker tells the controller's progress display what it collected and what it
runs now (the trials in flight and their `trial.progress`).

The controller names a folder in `workerinput`; each worker keeps one small JSON file there
(`<worker id>.json`), rewritten by a daemon thread every `INTERVAL_S` when its content
changed (written whole, then renamed: a reader never sees half a file). Nothing of this runs
in a trial's thread: `trial.progress()` only sets an attribute the thread reads. Without
xdist the display asks the local worker directly (in_process.py `InProcessLink`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["INTERVAL_S", "Beacon", "read_beacons"]

INTERVAL_S = 0.5
Snapshot = Callable[[], dict[str, Any]]


class Beacon:
    """A worker's file in the controller's progress folder, kept up to date."""

    def __init__(self, folder: Path, worker_id: str, snapshot: Snapshot) -> None:
        self.path = folder / f"{worker_id}.json"
        self._snapshot = snapshot
        self._written = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crucible-beacon", daemon=True)

    def start(self) -> None:
        self.write()  # at once: the collected trials are the display's totals
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self.write()

    def write(self) -> None:
        try:
            text = json.dumps(self._snapshot())
        except (RuntimeError, TypeError, ValueError):  # changed while read: next time
            return
        if text == self._written:
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(self.path)
        except OSError:  # the folder is gone (the session ends): the display does without
            return
        self._written = text

    def stop(self) -> None:
        self._stop.set()


def read_beacons(folder: Path) -> Iterator[dict[str, Any]]:
    """Every worker's last snapshot (a file being replaced, or unreadable, is left out)."""
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            yield data
