"""One run shared by many processes (`--crucible-join=KEY`): each trial claimed before it starts.

Every process started with the same key against the same store works on one run per
experiment (its id and seed derive from the key: inputs.py). At collection the first process
creates the run with one claim row per trial (`ResultStore.join_run`); the others check that
they run the same experiment (the fingerprint). A trial item runs here only once this process
holds its claim: `mine` claims the item and the ones that follow it in one transaction (a
batch: what the prefetcher would start anyway, fewer towards the run's end: `claim_size`); an
item another process claimed is neither run nor reported here. A heartbeat thread renews this
process's claims; claims of a process that died expire after the lease and are taken over.
When pytest's loop is done, `sweep` waits for the trials other processes claimed: each is
stored by them, or its claim expires and this process takes it over and runs it. So every
process ends when the run is complete (or it is stopped), and the one that finds every trial
stored first analyses it (recorder.py): the session holding the claim of the run's first
trial, which alone warmed an analysis child while the trials ran, unless it is gone (the
others leave it a few seconds first).

Holders are named `SESSION/WORKER pid PID on HOST`: the part before the slash names the
pytest session (its xdist workers share it), so processes are counted by it.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import filterfalse, islice
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import StoreError
from pytest_crucible.session.items import spec_of
from pytest_crucible.store import ResultStore, open_store

if TYPE_CHECKING:
    import pytest

    from pytest_crucible.declare.plan import Plan
    from pytest_crucible.session.link import ControllerLink

__all__ = [
    "DEFAULT_LEASE_S",
    "JoinClaims",
    "claim_size",
    "holder_name",
    "joined_claims",
    "other_sessions",
    "session_of",
    "who",
]

DEFAULT_LEASE_S = 60.0
_LEAST_CLAIM = 4  # the smallest batch claimed at the end of a run (fewer: more transactions)
# how long the sweep waits before looking at other processes' claims again: briefly once
# those left are few (up to 4 batches: the others' last waves; the process that analyses the
# run waits here for their last trials, and whatever it waits more adds to the wall time)
_POLL_S = 0.2
_END_POLL_S = 0.05
# header fields that show how two definitions of an experiment differ
_COMPARED = {
    "conditions": "its conditions",
    "config": "its config",
    "dataset_fingerprint": "its dataset",
    "repeat": "repeat",
    "seed": "its seed",
    "metrics": "its metrics",
    "total_trials": "its number of trials",
}


def claim_size(full: int, left: int, holders: int) -> int:
    """How many trials to claim at once: `full` (twice the concurrency) while many are left,
    then a share of the `left` unclaimed ones for each of the `holders` claiming them
    (guided self-scheduling). Batches of `full` to the end would leave the last process to
    claim up to `full` trials alone while the others, done, wait: up to two waves of model
    calls at the end of every joined run."""
    share = -(-left // (2 * max(1, holders)))
    return max(min(full, _LEAST_CLAIM), min(full, share))


def holder_name(session: str, worker_id: str) -> str:
    return f"{session}/{worker_id} pid {os.getpid()} on {socket.gethostname()}"


def session_of(holder: str) -> str:
    return holder.split("/", 1)[0]


def who(holder: str) -> str:
    """A holder as messages show it: `pid PID on HOST`."""
    return holder.partition(" ")[2] or holder


def other_sessions(counts: Mapping[str, int], session: str) -> tuple[int, int]:
    """(trials run by other sessions, how many sessions) from `trials_by_holder`."""
    others = {session_of(h): 0 for h in counts if session_of(h) != session}
    trials = sum(n for h, n in counts.items() if session_of(h) != session)
    return trials, len(others)


class JoinClaims:
    """This process's claims on the trials of its joined runs."""

    def __init__(
        self,
        location: str,
        key: str,
        lease_s: float,
        holder: str,
        run_id_for: Callable[[str], str],
    ) -> None:
        self.key = key
        self.lease_s = lease_s
        self.holder = holder
        self._location = location
        self._run_id_for = run_id_for
        self._store: ResultStore | None = None
        self._mine: dict[str, pytest.Item] = {}  # the items this process holds the claim of
        self._nodeids: dict[str, str] = {}  # trial key -> node id, of the items claimed here
        self._finished: set[str] = set()  # keys of the trials this process has results of
        self._elsewhere: dict[str, pytest.Item] = {}  # claimed by others when met
        self._stored: set[str] = set()  # node ids of trials found stored (by anyone)
        # node ids not to start ahead: claimed elsewhere, stored, or finished here (one set:
        # each item's call phase looks past a few hundred of them)
        self._passed_over: set[str] = set()
        self._others: set[str] = set()  # the other holders met in claims
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    @property
    def store(self) -> ResultStore:
        if self._store is None:
            self._store = open_store(self._location)
        return self._store

    # -- collection ---------------------------------------------------------------------------

    def enter(
        self, plans: Mapping[str, Plan], environment: Callable[[], Mapping[str, Any]]
    ) -> list[str]:
        """Create or join each experiment's run; the problems (a different experiment)."""
        problems = []
        for name, plan in plans.items():
            run_id = self._run_id_for(name)
            header = plan.header()
            exists = self.store.run(run_id) is not None
            keys = [spec.key for spec in plan.trials]
            stored = self.store.join_run(
                run_id, self.key, header, {} if exists else environment(), keys
            )
            if stored is not None and stored.get("fingerprint") != header["fingerprint"]:
                problems.append(self._mismatch(name, run_id, header, stored))
        if not problems:
            self._start_heartbeat()
        return problems

    def _mismatch(
        self, name: str, run_id: str, here: Mapping[str, Any], stored: Mapping[str, Any]
    ) -> str:
        differences = [
            f"{label} ({_short(here.get(field))} here, {_short(stored.get(field))} in the run)"
            for field, label in _COMPARED.items()
            if here.get(field) != stored.get(field)
        ] or ["the code or parameters of a condition"]
        return (
            f"--crucible-join={self.key}: experiment {name!r} here differs from run {run_id} "
            f"that other processes joined with this key in store {self.store.location}: "
            f"{'; '.join(differences)}. Every process of a joined run must run the same "
            "experiment (code, config, data, seed): start this one from the same checkout "
            "and options, or give a new key to start a new run."
        )

    # -- running ------------------------------------------------------------------------------

    def mine(
        self, item: pytest.Item, upcoming: Callable[[], Sequence[pytest.Item]] = tuple
    ) -> bool:
        """Whether this process runs `item`: it holds the item's claim, or gets it now with
        the unknown ones of `upcoming()` (claimed in the same transaction; listed only
        then)."""
        nodeid = item.nodeid
        if nodeid in self._mine:
            return True
        if nodeid in self._elsewhere or nodeid in self._stored:
            return False
        if spec_of(item) is None:
            return True
        batch = [item, *(u for u in upcoming() if self._unknown(u))]
        self._claim(batch)
        return nodeid in self._mine

    @property
    def holders(self) -> int:
        """How many holders claim trials here: this one and the others met so far."""
        return 1 + len(self._others)

    def next_to_start(self, following: Iterable[pytest.Item], count: int) -> list[pytest.Item]:
        """The first `count` of `following` (the items after one, in order) that this
        process may start ahead. Counted by position, a window that reached another
        process's batch would start almost nothing, and the trials in flight here would
        drain at each of its batches; so the items others hold or stored are passed over,
        and so are those that ran here already (the sweep's trials come after items that
        pytest's loop ran: a window looking past them must not start those again)."""
        return list(islice(filterfalse(self._not_to_start, following), count))

    def _not_to_start(self, item: pytest.Item) -> bool:
        return item.nodeid in self._passed_over

    def finished(self, key: str) -> None:
        """A trial this process has a result of (on its way to the store): its claim is
        kept to the end, never given back."""
        self._finished.add(key)
        nodeid = self._nodeids.get(key)
        if nodeid is not None:
            self._passed_over.add(nodeid)

    def _unknown(self, item: pytest.Item) -> bool:
        nodeid = item.nodeid
        return (
            nodeid not in self._mine
            and nodeid not in self._elsewhere
            and nodeid not in self._stored
        )

    def _claim(self, items: Sequence[pytest.Item]) -> list[pytest.Item]:
        """Claim `items` (of trial functions: one experiment each); those now mine."""
        by_run: dict[str, dict[str, pytest.Item]] = {}
        for item in items:
            spec = spec_of(item)
            if spec is not None:
                by_run.setdefault(self._run_id_for(spec.experiment), {})[spec.key] = item
        got = []
        for run_id, keyed in by_run.items():
            claims = self.store.claim_trials(run_id, list(keyed), self.holder, self.lease_s)
            claimed = set(claims.claimed)
            self._others.update(claims.held.values())
            for key, item in keyed.items():
                nodeid = item.nodeid
                if key in claimed:
                    self._mine[nodeid] = item
                    self._nodeids[key] = nodeid
                    self._elsewhere.pop(nodeid, None)
                    if key not in self._finished:
                        self._passed_over.discard(nodeid)
                    got.append(item)
                elif key in claims.held:
                    self._elsewhere[nodeid] = item
                    self._passed_over.add(nodeid)
                else:  # stored already
                    self._elsewhere.pop(nodeid, None)
                    self._stored.add(nodeid)
                    self._passed_over.add(nodeid)
        return got

    def sweep(
        self,
        run: Callable[[pytest.Item, pytest.Item | None], None],
        stopping: Callable[[], bool],
        batch: int,
    ) -> None:
        """After pytest's loop: until every trial met claimed elsewhere is stored, take over
        the expired claims (in batches of `batch`) and `run` their items; wait while other
        live processes hold claims. Ends early when `stopping()`."""
        said = False
        while self._elsewhere and not stopping():
            waiting = list(self._elsewhere.values())
            took = False
            for start in range(0, len(waiting), batch):
                got = self._claim(waiting[start : start + batch])
                for index, item in enumerate(got):
                    if stopping():
                        return
                    run(item, got[index + 1] if index + 1 < len(got) else None)
                took = took or bool(got)
            if self._elsewhere and not took:
                if not said:
                    said = True
                    self._say_waiting()
                poll = _END_POLL_S if len(self._elsewhere) <= 4 * batch else _POLL_S
                self._stop.wait(min(poll, self.lease_s / 4))

    def _say_waiting(self) -> None:
        print(
            f"\ncrucible: --crucible-join={self.key}: waiting for {len(self._elsewhere)} "
            "trial(s) claimed by other processes: each is stored by them, or taken over here "
            f"when its claim expires (--crucible-lease={self.lease_s:g} s without heartbeat)",
            file=sys.stderr,
            flush=True,
        )

    # -- heartbeat and end ----------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        if self._beater is None:
            self._beater = threading.Thread(
                target=self._beat, name="crucible-claims-heartbeat", daemon=True
            )
            self._beater.start()

    def _beat(self) -> None:
        """Renew this process's claims three times per lease, on a connection of its own."""
        store: ResultStore | None = None
        while not self._stop.wait(self.lease_s / 3):
            try:
                store = store or open_store(self._location)
                store.renew_claims(self.holder, self.lease_s)
            except StoreError:
                continue  # locked for a while: the lease leaves room for two misses
        if store is not None:
            store.close()

    def close(self) -> None:
        """Stop the heartbeat; give back the claims of trials without a result here (never
        started, or cancelled: the session stopped early), so that other processes need
        not wait for the lease."""
        self._stop.set()
        if self._beater is not None:
            self._beater.join(timeout=10)
        try:
            self._release_unfinished()
        except StoreError:
            pass  # they expire after the lease
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _release_unfinished(self) -> None:
        by_run: dict[str, list[str]] = {}
        for item in self._mine.values():
            spec = spec_of(item)
            if spec is not None and spec.key not in self._finished:
                by_run.setdefault(self._run_id_for(spec.experiment), []).append(spec.key)
        for run_id, keys in by_run.items():
            self.store.release_claims(run_id, keys, self.holder)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def joined_claims(config: pytest.Config, link: ControllerLink) -> JoinClaims | None:
    """The claims of a process started with --crucible-join (None without)."""
    key = link.inputs.join
    if not key:
        return None
    lease = float(config.getoption("crucible_lease") or DEFAULT_LEASE_S)
    holder = holder_name(link.inputs.session, link.worker_id)
    return JoinClaims(link.store_location, key, lease, holder, link.inputs.run_id_for)
