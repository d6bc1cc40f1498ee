"""Which session holds a run: two sessions must never continue one run at the same time.

Two `--crucible-resume` of one run (or a resume of a run a fresh session is still writing)
would each run the trials the run is missing: every model call paid twice, every trial
stored twice over. So the controller (the only process that writes the store) holds the runs
it writes, in the store's run_holders table: it takes a resumed run before any trial starts,
and a new run in the transaction that creates it. A second session that would take a held
run is refused with the holder's host and pid.

A holder writes a heartbeat every HEARTBEAT_S while it runs (on a thread of its own: the
writer thread may sit idle for minutes while a long trial runs) and deletes its rows when the
session ends. A process that died without that leaves a stale row, which the next session
takes over: at once on the same host (its pid is gone, or is this very process: an earlier
in-process session), after LEASE_S without a heartbeat from another host.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from pytest_crucible.errors import ResumeError, StoreError
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.opening import open_store
from pytest_crucible.store.rows import utc_now
from pytest_crucible.store.run_records import RunHolder

__all__ = ["HEARTBEAT_S", "LEASE_S", "RunHold", "is_stale"]

LEASE_S = 60.0  # a holder whose heartbeat is older than this is stale
HEARTBEAT_S = LEASE_S / 4


class RunHold:
    """This process's hold on the runs it writes; `warn` gets a message if another
    process took one over (after this one stopped beating for a whole lease)."""

    def __init__(
        self, store: ResultStore, warn: Callable[[str], None], location: str | None = None
    ) -> None:
        """`location`: the store's, unmasked, for the heartbeat thread's own connection
        (`store.location` is masked; the two are the same for a SQLite file)."""
        self._store = store
        self._location = location or store.location
        self._warn = warn
        now = utc_now()
        self.me = RunHolder(socket.gethostname(), os.getpid(), now, now, LEASE_S)
        self._runs: list[str] = []
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    def take(self, run_id: str, experiment: str, option: str) -> None:
        """Hold a stored run this session continues; refuse (ResumeError) when another
        live session holds it."""
        other = self._store.hold_run(run_id, self.me, is_stale)
        if other is not None:
            raise ResumeError(_held_message(run_id, experiment, option, other))
        self.note(run_id)

    def take_all(self, runs: Mapping[str, str], option: str) -> None:
        """`take` each (experiment -> run id); on a refusal, release those already taken."""
        try:
            for experiment, run_id in runs.items():
                self.take(run_id, experiment, option)
        except ResumeError:
            self.release()
            raise

    def note(self, run_id: str) -> None:
        """Record a run now held (taken, or created with this holder) and keep it beating."""
        self._runs.append(run_id)
        if self._beater is None:
            self._beater = threading.Thread(
                target=self._beat, args=(self._location,), name="crucible-heartbeat", daemon=True
            )
            self._beater.start()

    def release(self) -> None:
        """Let the runs go (at the session's end); safe to call more than once."""
        self._stop.set()
        if self._beater is not None:
            self._beater.join(timeout=10)
        runs, self._runs = self._runs, []
        if runs:
            try:
                self._store.release_runs(self.me, runs)
            except StoreError as exc:  # the hold lapses by itself: the pid ends with us
                self._warn(f"could not release the runs {', '.join(runs)}: {exc}")

    def _beat(self, location: str) -> None:
        """Refresh the heartbeat every HEARTBEAT_S, on a connection of this thread's own."""
        store: ResultStore | None = None
        lost = False
        while not self._stop.wait(HEARTBEAT_S):
            try:
                store = store or open_store(location, side_folder=self._store.side_folder)
                runs = list(self._runs)
                held = store.beat(self.me, runs) if runs else 0
            except StoreError:
                continue  # locked for a while: the lease leaves room for several misses
            if held < len(runs) and not lost:
                lost = True
                self._warn(
                    f"another session took over run(s) {', '.join(runs)} after this one sent "
                    f"no heartbeat for {LEASE_S:.0f} s; trials may now run in both"
                )
        if store is not None:
            store.close()


def is_stale(holder: RunHolder) -> bool:
    """Whether a holder may be taken over: its process is gone (on this host), or is this
    very process (an earlier session of it), or it sent no heartbeat for its lease."""
    here = holder.host == socket.gethostname()
    if here and (holder.pid == os.getpid() or not _alive(holder.pid)):
        return True
    beat = datetime.fromisoformat(holder.heartbeat_at)
    silent_s = (datetime.fromisoformat(utc_now()) - beat).total_seconds()
    return silent_s > holder.lease_s


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process whose parent has not reaped it yet (Linux; elsewhere: no)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _held_message(run_id: str, experiment: str, option: str, holder: RunHolder) -> str:
    return (
        f"{option}: run {run_id} of {experiment!r} is held by another session that is still "
        f"running: pid {holder.pid} on host {holder.host} (since {holder.started_at[:19]} UTC, "
        f"last heartbeat {holder.heartbeat_at[:19]} UTC). Two sessions on one run would run "
        "its missing trials twice. Wait for that session to end (or stop it), then resume; "
        f"or start a new run without {option}. A session that died is taken over by the "
        f"next resume: at once on its host, after {LEASE_S:.0f} s without heartbeat on "
        "another."
    )
