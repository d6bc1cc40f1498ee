"""Finished trials kept on disk until the store has them: one append-only journal per process.

A trial started ahead of its pytest item (`--crucible-concurrency`) finishes long before its
report reaches the store; a result the store refuses (read-only, locked, full) never reaches
it. Both go to the journal of the process that holds them: a JSONL file in
`<store>.journals/` (in the store's side folder), one line per trial, written at once (a
kill -9 loses nothing written) and fsync'd by a background thread within `SYNC_S` (a power
cut then loses at most that).

The journal's owner holds an exclusive lock on its file while it lives. The controller at
session start and end, and `crucible import`, import the journals no live process holds
(`import_journals`): a trial the store already has wins; a run the store lacks is created
from the header its journal carries. Imported journals are deleted.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pytest_crucible.errors import StoreError
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.locations import side_name
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.rows import Job

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: journals are imported, never deleted
    fcntl = None  # type: ignore[assignment]

__all__ = ["Journal", "JournalImport", "disk_full", "import_journals", "journal_folder"]

SYNC_S = 0.05  # the longest a written line waits for its fsync
_ENCODE = json.JSONEncoder(default=repr).encode
_STRING = r'"(?:[^"\\]|\\.)*"'  # a JSON string literal
_HEAD = re.compile(rf'\{{"run_id": ({_STRING}), "key": ({_STRING}), ')
_DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def journal_folder(store: ResultStore) -> Path:
    """Where the journals of `store` wait: `<side folder>/<store name>.journals`."""
    return store.side_folder / f"{side_name(store.location)}.journals"


def disk_full(exc: OSError) -> bool:
    return exc.errno in _DISK_FULL


class Journal:
    """This process's journal: created at its first line, closed (unlocked) by `close`."""

    def __init__(self, folder: Path) -> None:
        """`folder`: the store's `journal_folder` (an xdist worker gets it from its
        controller)."""
        self.folder = folder
        name = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}.jsonl"
        self.path = self.folder / name
        self._file: IO[str] | None = None
        self._headers: set[str] = set()
        self._lock = threading.Lock()
        self._unsynced = threading.Event()
        self._closed = threading.Event()
        self._syncer: threading.Thread | None = None

    def has_header(self, run_id: str) -> bool:
        return run_id in self._headers

    def append(
        self, run_id: str, header: Mapping[str, Any] | None, record: TrialRecord, worker: str
    ) -> None:
        """Write one finished trial, in its JSON form (with its run's header the first
        time); raises OSError."""
        lines = []
        if run_id not in self._headers and header is not None:
            lines.append(_ENCODE({"run_id": run_id, "header": header}))
        # run id and key first: an import skips the lines of stored trials without decoding them
        trial = {"run_id": run_id, "key": record.key, "worker": worker, "trial": record.to_json()}
        lines.append(_ENCODE(trial))
        text = "\n".join(lines) + "\n"
        with self._lock:
            if self._closed.is_set():  # a trial ending as the session ends: its item reports it
                return
            file = self._file or self._open()
            file.write(text)
            file.flush()  # in the OS's hands: a killed process loses nothing from here on
            if header is not None:
                self._headers.add(run_id)
        self._unsynced.set()

    def _open(self) -> IO[str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        file = self.path.open("a", encoding="utf-8")
        if fcntl is not None:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file = file
        self._syncer = threading.Thread(target=self._sync_loop, name="crucible-journal")
        self._syncer.daemon = True
        self._syncer.start()
        return file

    def _sync_loop(self) -> None:
        while not self._closed.is_set():
            self._unsynced.wait()
            self._closed.wait(SYNC_S)  # gather the lines of the next SYNC_S in one fsync
            self._unsynced.clear()
            self._sync()

    def _sync(self) -> None:
        # without the lock: appends go on during the fsync; `close` closes the file only
        # once this thread has ended. A failed fsync risks the lines only on a power cut.
        file = self._file
        if file is not None:
            with suppress(OSError, ValueError):
                os.fsync(file.fileno())

    def close(self) -> None:
        """Sync and unlock the journal: an importer may take it from here on."""
        self._closed.set()
        self._unsynced.set()
        if self._syncer is not None:
            self._syncer.join(timeout=10)
        with self._lock:
            if self._file is not None:
                with suppress(OSError):  # its last lines could not be written: nothing to do
                    self._file.close()
                self._file = None


@dataclass
class JournalImport:
    """What `import_journals` did: trials added per run, journals left for later."""

    added: dict[str, int] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)  # why journals stay (e.g. the store failed)

    @property
    def total(self) -> int:
        return sum(self.added.values())

    def message(self) -> str | None:
        if not self.added:
            return None
        runs = ", ".join(f"{count} into run {run}" for run, count in self.added.items())
        return f"imported {self.total} finished trial(s) from journals of earlier sessions: {runs}"


def import_journals(store: ResultStore) -> JournalImport:
    """Import every journal of `store` that no live process holds, then delete it. A
    journal the store refuses stays for a later import."""
    summary = JournalImport()
    folder = journal_folder(store)
    if not folder.is_dir():
        return summary
    for path in sorted(folder.glob("*.jsonl")):
        try:
            added = _import_journal(store, path)
        except Exception as exc:  # StoreError, OSError, text the store cannot take: keep it
            summary.kept.append(f"{path}: {exc}")
            continue
        for run_id, count in (added or {}).items():
            summary.added[run_id] = summary.added.get(run_id, 0) + count
    _remove_if_empty(folder)
    return summary


def _import_journal(store: ResultStore, path: Path) -> dict[str, int] | None:
    """Import one journal and delete it; None when its owner still lives."""
    with _taken(path) as file:
        if file is None:
            return None  # its process imports it itself at its session's end
        added = _import_file(store, file)
        if fcntl is not None:
            path.unlink()
        return added


@contextmanager
def _taken(path: Path) -> Iterator[IO[str] | None]:
    """The journal at `path` opened and locked, or None while its owner lives."""
    try:
        file = path.open("r", encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:  # another importer took it
        yield None
        return
    with file:
        if fcntl is not None:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield None
                return
        yield file


def _import_file(store: ResultStore, file: IO[str]) -> dict[str, int]:
    headers: dict[str, Mapping[str, Any]] = {}
    trials: list[Job] = []
    for line in _lines(file, _StoredKeys(store)):
        if "header" in line:
            headers[line["run_id"]] = line["header"]
        elif "trial" in line:
            record = TrialRecord.from_json(line["trial"])
            trials.append((line["run_id"], record, line.get("worker", "journal")))
    for run_id in dict.fromkeys(run_id for run_id, _, _ in trials):
        if store.run(run_id) is not None:
            continue
        if run_id not in headers:  # cannot happen: a run's first line carries its header
            raise StoreError(f"its run {run_id} is not in the store, nor its header")
        store.create_run(headers[run_id], {}, run_id=run_id, status="interrupted")
    return store.import_trials(trials)


class _StoredKeys:
    """Whether the store has a trial, by its run and key (one query per run, when asked)."""

    def __init__(self, store: ResultStore) -> None:
        self._store = store
        self._keys: dict[str, set[str]] = {}

    def __contains__(self, place: tuple[str, str]) -> bool:
        run_id, key = place
        keys = self._keys.get(run_id)
        if keys is None:
            keys = set()
            if self._store.run(run_id) is not None:
                keys.update(self._store.completed_keys(run_id))
                keys.update(self._store.failed_keys(run_id))
            self._keys[run_id] = keys
        return key in keys


def _stored_line(line: str, stored: _StoredKeys) -> bool:
    """Whether `line` is a trial the store has (read from the line's start, not decoded:
    a session's own journal holds every trial it ran, and the store has them all)."""
    found = _HEAD.match(line)
    if found is None:  # a header, or a line of an older journal: decoded
        return False
    try:
        return (json.loads(found[1]), json.loads(found[2])) in stored
    except ValueError:
        return False


def _lines(file: IO[str], stored: _StoredKeys) -> Iterator[dict[str, Any]]:
    for line in file:
        if _stored_line(line, stored):
            continue
        try:
            record = json.loads(line)
        except ValueError:  # the last line of a journal whose process died mid-write
            continue
        if isinstance(record, dict) and "run_id" in record:
            yield record


def _remove_if_empty(folder: Path) -> None:
    with suppress(OSError):  # journals of live processes (or refused by the store) remain
        folder.rmdir()
