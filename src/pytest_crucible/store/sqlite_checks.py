"""The SQLite store's guards: its folder made, a file that is not a store or is damaged
refused, SQLite's errors turned into messages that say what to do, and the write
transaction (BEGIN IMMEDIATE: a writer waits for the lock once, up front)."""

from __future__ import annotations

import shlex
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytest_crucible.errors import StoreError, StoreFullError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "check_integrity",
    "check_is_a_store",
    "explain",
    "make_folder",
    "sql_statements",
    "transaction",
    "use_wal",
]

BUSY_TIMEOUT_MS = 5000
# what SQLite says when the disk is full (SQLITE_FULL), or a write fails (EFBIG: a file size
# limit; other I/O errors, rarer, get the same advice)
_WRITE_REFUSED = ("SQLITE_FULL", "SQLITE_IOERR_WRITE")
_LOCKED_RETRY_S = 0.005  # between tries of a switch to WAL that found the store locked


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # a COMMIT that failed (a full disk) leaves it open
            conn.execute("ROLLBACK")
        raise


def use_wal(conn: sqlite3.Connection) -> None:
    """Put the store in WAL mode (a no-op once it is). The switch takes an exclusive lock, and
    when processes open a new store at once SQLite may answer "database is locked" at once,
    without waiting as its busy handler does (three openers at once, 200 rounds: 9 openings
    failed; a process of three joined ones was seen to fail at its start): waited for here,
    as the busy handler would, up to `BUSY_TIMEOUT_MS`."""
    # imported here: a store only read (load_trials, the dashboard) never loads tenacity
    from pytest_crucible.util.retrying import retry_call

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000

    def while_locked(error: BaseException) -> float | None:
        busy = getattr(error, "sqlite_errorname", None) == "SQLITE_BUSY"
        return _LOCKED_RETRY_S if busy and time.monotonic() < deadline else None

    retry_call(lambda: conn.execute("PRAGMA journal_mode=WAL"), while_locked)


def sql_statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one at a time, for `execute` inside a transaction
    (`executescript` commits the open transaction first). A `;` inside a string, a comment or
    a trigger's body does not end a statement: `sqlite3.complete_statement` says where one
    ends."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\r\n;"):
                yield pending
            pending = ""


def make_folder(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocking = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocking is not None and not blocking.is_dir():
            raise StoreError(
                f"--crucible-store {path}: {blocking} is a file, not a folder; give a store "
                "path inside a folder (e.g. --crucible-store results/crucible.db)"
            ) from None
        raise StoreError(
            f"--crucible-store {path}: cannot create the folder {folder} ({exc.strerror}); "
            "give a store path in a folder you can write to"
        ) from None


def check_is_a_store(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, when reading, a SQLite file that pytest-crucible did not write (its queries
    would fail with "no such table" deep inside a report or a command)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'")
    if found.fetchone() is None:
        conn.close()
        raise StoreError(
            f"{path} is not a pytest-crucible store (a SQLite database without its tables); "
            "give the path of a store that `pytest --crucible` wrote (.crucible/crucible.db "
            "by default)"
        )


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a store whose pages are damaged: a run would write into it (and read wrong
    results back) until SQLite happened to read a damaged page."""
    try:
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise  # not damage: `explain` says who holds it
        verdict = str(exc)
    if verdict == "ok":
        return
    conn.close()
    saved = path.with_name(f"{path.stem}-recovered{path.suffix or '.db'}")
    raise StoreError(
        f"store {path} is damaged (SQLite's integrity check: {verdict}); nothing was written "
        "to it. Copy what can be saved into a new store with\n"
        f"    sqlite3 {shlex.quote(str(path))} .recover | sqlite3 {shlex.quote(str(saved))}\n"
        f"and run with --crucible-store {shlex.quote(str(saved))} (or move the damaged store "
        f"aside, mv {shlex.quote(str(path))} {shlex.quote(str(path))}.bad, to start a new one)"
    )


def explain(exc: sqlite3.DatabaseError, path: Path, *, reading: bool = False) -> StoreError:
    """The store error that says what to do about `exc`; `reading`: the store was opened
    read-only (a reader gave a wrong path more likely than the store broke)."""
    message = str(exc)
    if reading and "not a database" in message:
        return StoreError(
            f"{path} is not a pytest-crucible store (not a SQLite database: {message}); give "
            "the path of a store that `pytest --crucible` wrote (.crucible/crucible.db by "
            "default)"
        )
    if "locked" in message or "busy" in message:
        return StoreError(
            f"store {path} is locked by another process (another `pytest --crucible` run?) "
            f"and stayed locked for {BUSY_TIMEOUT_MS // 1000} s; wait for it to finish, or "
            "use a separate store with --crucible-store PATH"
        )
    if "not a database" in message or "malformed" in message or "corrupt" in message:
        return StoreError(
            f"store {path} is not a readable SQLite database ({message}); nothing was written "
            f"to it. Move it aside (mv {path} {path}.bad) to start a new store, or point "
            "--crucible-store at another file"
        )
    if getattr(exc, "sqlite_errorname", "") in _WRITE_REFUSED:
        return StoreFullError(
            f"cannot write to the store {path}: the disk is full, or a file size limit was "
            f"reached ({message}); free space on {path.parent}, or move the store elsewhere "
            "with --crucible-store PATH"
        )
    return StoreError(f"store {path}: {message}")
