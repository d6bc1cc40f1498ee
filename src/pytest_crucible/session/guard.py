"""The controller's side of error recovery: dead letters, circuit breakers, stopping a run.

Workers (or the single process) run trials under each experiment's retry policy; what reaches
the controller is each trial's result with its retry record (`recovery`). Here:

- a trial that failed for good (its condition call ended `failed_permanent` or
  `failed_retries_exhausted`) is appended to `<store dir>/dead_letters/<experiment>-<run>.jsonl`;
- each experiment with `error_handling=ErrorHandling(breaker=...)` gets a `CircuitBreaker`,
  fed each trial's outcome in the order results arrive (a trial counts as failed only when
  its condition call failed for good, not when its answer was wrong);
- when a breaker trips, or a trial asks the run to stop (on_invalid="abort", an on_error
  hook answering "abort"), that experiment stops cleanly: none of its trials start any
  more (they are skipped, saying why), its run is marked interrupted (resume it with
  --crucible-resume), the terminal says why, and the session's other experiments go on.

Under pytest-xdist the items a worker was already sent are in its private queue, so the
controller writes the stopped experiments to a stop file that each worker reads before it
starts a trial (`StopSignal`). The same file carries the trials that crashed a worker
(session/crashes.py).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.declare.experiment import Experiment
from pytest_crucible.run.recovery import (
    CircuitBreaker,
    CircuitBreakerSettings,
    DeadLetter,
    DeadLetterQueue,
)
from pytest_crucible.session.crashes import WORKER_CRASHED
from pytest_crucible.store.records import TrialRecord

if TYPE_CHECKING:  # payload.py imports this module
    from pytest_crucible.session.payload import TrialPayload

__all__ = ["DEAD_LETTERS_DIR", "RunGuard", "StopSignal", "dead_letter_path", "run_policy"]

DEAD_LETTERS_DIR = "dead_letters"
_FAILED_FOR_GOOD = ("failed_permanent", "failed_retries_exhausted")


def dead_letter_path(side_folder: Path, experiment: str, run_id: str) -> Path:
    """Where a run's dead letters go: in the store's side folder (beside a SQLite file)."""
    return side_folder / DEAD_LETTERS_DIR / f"{experiment}-{run_id}.jsonl"


def run_policy(experiment: Experiment) -> dict[str, Any]:
    """What the controller needs to know of an experiment it may never see (under xdist):
    its breaker settings, and where its trial function is defined when it has its own
    after_experiment hook. Sent with the experiment's header."""
    handling = experiment.error_handling
    breaker = handling.breaker if handling is not None else None
    module = None
    if experiment.hooks.after_experiment is not None and experiment.trial_function is not None:
        module = experiment.trial_function.__code__.co_filename
    return {
        "breaker": dataclasses.asdict(breaker) if breaker is not None else None,
        "module": module,
    }


def failed_for_good(record: TrialRecord) -> bool:
    """A failed trial whose condition call failed for good (not a wrong answer), or that
    crashed its xdist worker."""
    if record.status != "failed":
        return False
    recovery = record.recovery or {}
    crashed = record.failure_type == WORKER_CRASHED
    return crashed or recovery.get("final_status") in _FAILED_FOR_GOOD


class StopSignal:
    """A file through which the controller tells its xdist workers which experiments
    stopped, and why, and which trials crashed a worker: a JSON object
    {"stopped": {experiment: reason}, "crashes": {node id: crash}}."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[tuple[int, int, int], dict[str, Any]] = ((0, 0, 0), {})

    @classmethod
    def new(cls, side_folder: Path) -> StopSignal:
        return cls(side_folder / f"stop-{secrets.token_hex(6)}")

    def send(self, stopped: Mapping[str, str], crashes: Mapping[str, Mapping[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        content = {"stopped": dict(stopped), "crashes": dict(crashes)}
        temporary.write_text(json.dumps(content), encoding="utf-8")
        temporary.replace(self.path)  # readers never see half a file

    def received(self) -> Mapping[str, str]:
        """The stopped experiments (read again only when the file changed)."""
        try:
            found = self.path.stat()
        except FileNotFoundError:
            return {}
        changed = (found.st_ino, found.st_mtime_ns, found.st_size)
        if changed != self._seen[0]:
            self._seen = (changed, json.loads(self.path.read_text(encoding="utf-8")))
        stopped: Mapping[str, str] = self._seen[1].get("stopped", {})
        return stopped

    def crashes(self) -> Mapping[str, Mapping[str, Any]]:
        """The crashed trials as of the last `received()` (which a worker calls before each
        trial): no second look at the file per trial."""
        crashes: Mapping[str, Mapping[str, Any]] = self._seen[1].get("crashes", {})
        return crashes

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class RunGuard:
    """Per session, on the controller: dead letters, breakers, and the reason to stop."""

    def __init__(
        self, config: pytest.Config, side_folder: Path, warn: Callable[[str], None]
    ) -> None:
        """`side_folder`: the store's (`ResultStore.side_folder`), where dead letters and the
        stop signal go."""
        self.config = config
        self.side_folder = side_folder
        self._warn = warn
        self._fingerprints: dict[str, str] = {}
        self.signal = StopSignal.new(side_folder)
        self.policies: dict[str, dict[str, Any]] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._letters: dict[tuple[str, str], DeadLetterQueue] = {}
        self.stopped: dict[str, str] = {}  # experiment -> why it stopped
        self.crashes: dict[str, dict[str, Any]] = {}  # node id -> crash (crashes.py)
        self.errors: list[str] = []
        # a cancel request stops a run from the cancel watch's thread (cancelling.py)
        self._stopping = threading.RLock()

    def note_policy(self, experiment: str, policy: Mapping[str, Any] | None) -> None:
        if policy is None or experiment in self.policies:
            return
        self.policies[experiment] = dict(policy)
        settings = policy.get("breaker")
        if settings is not None:
            self._breakers[experiment] = CircuitBreaker(CircuitBreakerSettings(**settings))

    def observe(self, run_id: str, payload: TrialPayload, *, final: bool = True) -> str | None:
        """Feed one recorded trial; returns a reason when the run must stop now. An attempt
        that is not `final` (pytest-rerunfailures runs it again) only brings its policy."""
        record = payload.record
        experiment = record.experiment
        self.note_policy(experiment, payload.policy)
        self._check_plan(experiment, payload.header, payload.worker)
        if not final:
            return None
        broken = failed_for_good(record)
        if broken:
            self._dead_letter(run_id, record)
        breaker = self._breakers.get(experiment)
        counts = breaker is not None and not breaker.tripped and record.status != "skipped"
        if counts and breaker is not None and breaker.record(broken):
            return f"circuit breaker of experiment {experiment}: {breaker.reason}"
        return payload.stop or None

    def _check_plan(self, experiment: str, header: Any, worker: Any) -> None:
        """Every process sends its plan's header once: they must agree (a before_experiment
        hook that is not deterministic makes them differ)."""
        if header is None:
            return
        known = self._fingerprints.setdefault(experiment, header["fingerprint"])
        if known != header["fingerprint"]:
            self._warn(
                f"experiment {experiment}: worker {worker} planned it with fingerprint "
                f"{header['fingerprint']}, another process with {known}: the processes "
                "resolved different configs (a before_experiment hook that is not "
                "deterministic?), so their trials have different keys and seeds"
            )

    def _dead_letter(self, run_id: str, record: TrialRecord) -> None:
        key = (record.experiment, run_id)
        queue = self._letters.get(key)
        if queue is None:
            path = dead_letter_path(self.side_folder, *key)
            queue = self._letters[key] = DeadLetterQueue(path)
        recovery = record.recovery or {}
        letter = DeadLetter(
            experiment=record.experiment,
            run_id=run_id,
            trial_key=record.key,
            condition=record.condition,
            item_id=record.item_id,
            repeat=record.repeat,
            item=record.item,
            attempts=recovery.get("attempts", 0),
            final_status=recovery.get("final_status", ""),
            error_history=list(recovery.get("error_history") or []),
            error=record.error,
            timestamp=record.ended_at or 0.0,
        )
        try:
            queue.append(letter)
        except Exception as exc:  # never lose the run over its dead-letter file
            self.errors.append(str(exc))

    def stop(self, experiment: str, reason: str) -> None:
        """Start no more trials of `experiment`, here and on every xdist worker."""
        with self._stopping:
            if experiment in self.stopped:
                return
            self.stopped[experiment] = reason
            self.publish()

    def publish(self) -> None:
        """Write the stopped experiments and the crashed trials for the xdist workers."""
        if self.config.pluginmanager.getplugin("dsession") is not None:
            with self._stopping:
                self.signal.send(dict(self.stopped), dict(self.crashes))

    def dead_letters(self, experiment: str, run_id: str) -> tuple[int, Path] | None:
        queue = self._letters.get((experiment, run_id))
        return (queue.written, queue.path) if queue is not None and queue.written else None

    def summary_lines(self, experiment: str, run_id: str) -> list[str]:
        found = self.dead_letters(experiment, run_id)
        if found is None:
            return []
        count, path = found
        if path.is_relative_to(Path.cwd()):
            path = path.relative_to(Path.cwd())
        return [
            f"dead letters: {count} trial(s) failed for good, with their context, in {path}; "
            f"run them again with --crucible-retry-failed={run_id}"
        ]

    def close(self) -> None:
        for queue in self._letters.values():
            queue.close()
        self.signal.clear()
