"""What every process of a session must agree on, fixed once by the controller.

Under pytest-xdist the controller never collects; workers do, and they must collect the same
items. So the controller fixes the inputs that could differ (the seed for experiments that
declare none, the completed trials to skip on resume, the config overrides) and ships them to
every worker through `workerinput`. Without xdist the single process uses the same object.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_crucible.declare.shards import Shard, parse_shard
from pytest_crucible.errors import ResumeError
from pytest_crucible.store import ResultStore
from pytest_crucible.store.run_records import RunInfo

__all__ = ["ResumeTarget", "SessionInputs", "resolve_resume"]

_LATEST = "latest"
_RUN_ID = re.compile(r"^[0-9a-f]{8}$")


@dataclass(frozen=True)
class ResumeTarget:
    """A stored run that this session continues: its id, its seed, its passed trial keys;
    `only`: the keys of the trials to run (its failed ones, for --crucible-retry-failed),
    or None to run every trial that did not pass."""

    run_id: str
    seed: int
    completed: frozenset[str]
    only: frozenset[str] | None = None

    def skips(self, key: str) -> bool:
        """Whether this session leaves the trial with `key` out: it passed (resume), or it
        is not one of the failed trials (retry-failed)."""
        return key in self.completed or (self.only is not None and key not in self.only)


@dataclass(frozen=True)
class SessionInputs:
    seed: int
    seed_override: int | None = None
    overrides: tuple[tuple[str | None, str, str], ...] = ()
    resume: Mapping[str, ResumeTarget] = field(default_factory=dict)
    session: str = ""  # names this session's new runs (`run_id_for`)
    shard: str = ""  # --crucible-shard I/N ("" when the session runs every trial)
    shard_group: str = ""  # what the shard runs of one matrix share (`declare/shards.py`)
    join: str = ""  # --crucible-join KEY: names the runs every joined process shares

    @classmethod
    def new(
        cls,
        *,
        seed_override: int | None,
        overrides: list[tuple[str | None, str, str]],
        resume: Mapping[str, ResumeTarget],
        shard: str = "",
        shard_group: str = "",
        join: str | None = None,
    ) -> SessionInputs:
        """`join`: the --crucible-join key, from which every joined process derives the same
        seed (for experiments that declare none) and run ids. The shards of one group draw
        one seed too: their trial keys (which hash the seed) must be those of one run."""
        if join:
            seed = _join_seed(join)
        elif shard:
            seed = _group_seed(shard_group)
        else:
            seed = secrets.randbelow(2**31)
        return cls(
            seed=seed,
            seed_override=seed_override,
            overrides=tuple(overrides),
            resume=dict(resume),
            session=secrets.token_hex(8),
            shard=shard,
            shard_group=shard_group,
            join=join or "",
        )

    def shard_for(self) -> Shard | None:
        """This session's shard, or None when it runs every trial."""
        if not self.shard:
            return None
        index, count = parse_shard(self.shard)
        return Shard(index, count, self.shard_group)

    def run_id_for(self, experiment: str) -> str:
        """The id of the run an experiment's trials go to: the resumed run's, else one
        derived from the session, so that every process (xdist workers too) names it in
        its journal before the controller has created it."""
        target = self.resume.get(experiment)
        if target is not None:
            return target.run_id
        if self.join:
            return _derived_run_id(f"join:{self.join}", experiment)
        return _derived_run_id(self.session, experiment)

    def seed_for(self, experiment: str) -> int:
        """The seed of an experiment that declares none: its resumed run's, else the session's."""
        target = self.resume.get(experiment)
        return target.seed if target else self.seed

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["resume"] = {
            name: {
                "run_id": t.run_id,
                "seed": t.seed,
                "completed": sorted(t.completed),
                "only": None if t.only is None else sorted(t.only),
            }
            for name, t in self.resume.items()
        }
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionInputs:
        return cls(
            seed=data["seed"],
            seed_override=data["seed_override"],
            overrides=tuple((o[0], o[1], o[2]) for o in data["overrides"]),
            resume={
                name: ResumeTarget(
                    t["run_id"],
                    t["seed"],
                    frozenset(t["completed"]),
                    None if t.get("only") is None else frozenset(t["only"]),
                )
                for name, t in data["resume"].items()
            },
            session=data["session"],
            shard=data.get("shard", ""),
            shard_group=data.get("shard_group", ""),
            join=data.get("join", ""),
        )


def _group_seed(group: str) -> int:
    return int(hashlib.sha256(f"shard group {group}".encode()).hexdigest()[:8], 16) % 2**31


@functools.lru_cache(maxsize=64)
def _derived_run_id(session: str, experiment: str) -> str:
    return hashlib.sha256(f"{session}/{experiment}".encode()).hexdigest()[:8]


def _join_seed(key: str) -> int:
    return int(hashlib.sha256(f"join:{key}".encode()).hexdigest()[:8], 16) % 2**31


def resolve_resume(
    store: ResultStore,
    requested: str | None,
    *,
    option: str = "--crucible-resume",
    failed_only: bool = False,
) -> dict[str, ResumeTarget]:
    """Which run each experiment continues.

    `latest` continues the newest run of every stored experiment; a run id (or several,
    comma-separated) continues those runs alone. With `failed_only` (--crucible-retry-failed)
    only the trials stored as failed run again.
    """
    if requested is None:
        return {}
    runs = store.runs()
    if requested == _LATEST:
        newest: dict[str, RunInfo] = {}
        for run in runs:  # newest first
            newest.setdefault(run.experiment, run)
        return {name: _target(store, run, failed_only) for name, run in newest.items()}
    targets: dict[str, ResumeTarget] = {}
    for run_id in (part.strip() for part in requested.split(",")):
        found = next((r for r in runs if r.run_id == run_id), None)
        if found is None:
            raise ResumeError(_unknown_run(run_id, runs, store, option))
        run = found
        if run.experiment in targets:
            raise ResumeError(
                f"{option}={requested}: names two runs of experiment "
                f"{run.experiment!r}; a session continues one run per experiment"
            )
        targets[run.experiment] = _target(store, run, failed_only)
    return targets


def _target(store: ResultStore, run: RunInfo, failed_only: bool = False) -> ResumeTarget:
    only = frozenset(store.failed_keys(run.run_id)) if failed_only else None
    completed = frozenset(store.completed_keys(run.run_id))
    return ResumeTarget(run.run_id, run.seed, completed, only)


def _unknown_run(run_id: str, runs: list[RunInfo], store: ResultStore, option: str) -> str:
    message = f"{option}={run_id}: no such run in store {store.location}."
    if not _RUN_ID.match(run_id) and ("/" in run_id or "." in run_id or "::" in run_id):
        message += (
            f" {run_id!r} looks like a path: the option took it as its value. Write "
            f"`{option}` last or as `{option}=latest`, or give the run id "
            f"with `=` ({option}=RUN_ID)."
        )
    if not runs:
        return message + " The store holds no runs yet."
    by_experiment: dict[str, list[str]] = {}
    for run in runs:
        by_experiment.setdefault(run.experiment, []).append(
            f"{run.run_id} ({run.status}, {run.passed_trials}/{run.total_trials} passed, "
            f"{run.started_at[:16]})"
        )
    listed = "; ".join(
        f"runs of {name!r}: {', '.join(found[:5])}" for name, found in by_experiment.items()
    )
    return f"{message} {listed}"
