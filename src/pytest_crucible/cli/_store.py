"""Which store a command reads, and which run a RUN argument names.

The store: `--store PATH`, else the environment variable CRUCIBLE_STORE, else the plugin's
default `.crucible/crucible.db`; a relative path is relative to the current directory (a
shell command, unlike the plugin, which resolves against pytest's rootdir). A RUN is a run
id, a unique prefix of one, `latest`, or `latest:EXPERIMENT`.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from pytest_crucible.errors import CrucibleError
from pytest_crucible.store import DEFAULT_STORE, ResultStore, open_store
from pytest_crucible.store.interface import RunInfo

__all__ = [
    "STORE_ENV",
    "STORE_HELP",
    "StoreLocation",
    "check_store",
    "open_for_reading",
    "resolve_run",
]

STORE_ENV = "CRUCIBLE_STORE"
STORE_HELP = (
    f"the results store (default: ${STORE_ENV} when set, else {DEFAULT_STORE}); a relative "
    "path is relative to the current directory"
)
_LISTED = 5  # runs named in an error message


@dataclass(frozen=True)
class StoreLocation:
    """Where the store is, and what chose it (for messages)."""

    path: Path
    chosen_by: str  # "--store", "CRUCIBLE_STORE" or "default"

    @classmethod
    def of(cls, given: str | None) -> StoreLocation:
        if given:
            return cls(Path(given).expanduser(), "--store")
        from_env = os.environ.get(STORE_ENV, "").strip()
        if from_env:
            return cls(Path(from_env).expanduser(), STORE_ENV)
        return cls(DEFAULT_STORE, "default")

    def describe(self) -> str:
        """What chose the path, and what it resolved to (for messages)."""
        source = {"--store": "--store", STORE_ENV: f"${STORE_ENV}"}.get(
            self.chosen_by, "the default"
        )
        if self.path.is_absolute():
            return source
        return f"{source}, relative to the current directory: {self.path.resolve()}"


def open_for_reading(location: StoreLocation) -> ResultStore:
    """The store, opened read-only; a missing path or a file that is not a store is a
    CrucibleError that says what to do."""
    if not location.path.exists():
        raise CrucibleError(
            f"store {location.path} does not exist ({location.describe()}); "
            + _where_to_look(location)
        )
    if location.path.is_dir():
        inside = [
            p for p in (location.path / "crucible.db", location.path / DEFAULT_STORE) if p.is_file()
        ]
        example = inside[0] if inside else DEFAULT_STORE
        raise CrucibleError(
            f"store {location.path} is a folder, not a store file; give the store file, "
            f"e.g. --store {shlex.quote(str(example))}"
        )
    return open_store(location.path, readonly=True)


def check_store(location: StoreLocation) -> StoreLocation:
    """`location`, when a pytest-crucible store is there (checked before a command opens it
    for writing, which would create a missing one); else a CrucibleError, as above."""
    open_for_reading(location).close()
    return location


def _where_to_look(location: StoreLocation) -> str:
    if location.chosen_by == STORE_ENV:
        return f"correct ${STORE_ENV}, or give --store PATH"
    if location.chosen_by == "--store":
        return "give the path of an existing store to --store"
    found = _store_above(Path.cwd())
    if found is not None:  # the plugin puts its store under pytest's rootdir
        return f"a store exists at {found}: read it with `--store {shlex.quote(str(found))}`"
    return (
        f"run `pytest --crucible` here first, or give --store PATH (or set ${STORE_ENV}) "
        "to read another store"
    )


def _store_above(folder: Path) -> Path | None:
    for parent in folder.parents:
        candidate = parent / DEFAULT_STORE
        if candidate.is_file():
            return candidate
    return None


def resolve_run(store: ResultStore, ref: str) -> RunInfo:
    """The run `ref` names: a run id, a unique prefix of one, `latest` or
    `latest:EXPERIMENT`; a CrucibleError that lists candidates otherwise."""
    ref = ref.strip()
    if ref == "latest" or ref.startswith("latest:"):
        return _latest(store, ref.partition(":")[2].strip() or None)
    exact = store.run(ref)
    if exact is not None:
        return exact
    runs = store.runs()
    matches = [run for run in runs if ref and run.run_id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(f"{run.run_id} ({run.experiment})" for run in matches[:_LISTED])
        raise CrucibleError(
            f"run {ref!r} is ambiguous: {len(matches)} runs start with it ({listed}); "
            "give more of the run id"
        )
    recent = ", ".join(f"{run.run_id} ({run.experiment})" for run in runs[:_LISTED])
    raise CrucibleError(
        f"store {store.path} has no run {ref!r}; "
        + (
            f"runs: {recent}, newest first (`crucible runs` lists all)"
            if runs
            else "it holds no run"
        )
    )


def _latest(store: ResultStore, experiment: str | None) -> RunInfo:
    runs = store.runs(experiment)
    if runs:
        return runs[0]
    if experiment is None:
        raise CrucibleError(
            f"store {store.path} holds no run yet; run an experiment with `pytest --crucible`"
        )
    known = sorted({run.experiment for run in store.runs()})
    raise CrucibleError(
        f"store {store.path} has no run of experiment {experiment!r}; "
        + (f"its experiments: {', '.join(known)}" if known else "it holds no run")
    )
