"""Which store a command reads, and which run a RUN argument names.

The store: `--store PATH_OR_URL`, else the environment variable CRUCIBLE_STORE, else the
plugin's default `.crucible/crucible.db`; a relative path is relative to the current directory
(a shell command, unlike the plugin, which resolves against pytest's rootdir); a
`postgresql://` URL is used as written and shown with its password masked. A RUN is a run id,
a unique prefix of one, `latest`, or `latest:EXPERIMENT`.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pytest_crucible.errors import CrucibleError
from pytest_crucible.store import DEFAULT_STORE, ResultStore, open_store
from pytest_crucible.store.locations import is_database_url, masked
from pytest_crucible.store.run_records import RunInfo

__all__ = [
    "STORE_ENV",
    "STORE_HELP",
    "StoreLocation",
    "check_store",
    "open_for_reading",
    "open_runs",
    "resolve_run",
]

STORE_ENV = "CRUCIBLE_STORE"
STORE_HELP = (
    f"the results store: a SQLite file or a postgresql://USER@HOST:PORT/DB URL (default: "
    f"${STORE_ENV} when set, else {DEFAULT_STORE}); a relative path is relative to the "
    "current directory; a URL's password may come from PGPASSWORD or ~/.pgpass"
)
_LISTED = 5  # runs named in an error message


@dataclass(frozen=True)
class StoreLocation:
    """Where the store is, and what chose it (for messages). `location` is unmasked: it only
    opens the store; messages show `shown`."""

    location: str  # a SQLite file's path, or a database URL as given
    chosen_by: str  # "--store", "CRUCIBLE_STORE" or "default"

    @classmethod
    def of(cls, given: str | None) -> StoreLocation:
        if given and given.strip():
            return cls(_expanded(given), "--store")
        from_env = os.environ.get(STORE_ENV, "").strip()
        if from_env:
            return cls(_expanded(from_env), STORE_ENV)
        return cls(str(DEFAULT_STORE), "default")

    @property
    def is_database(self) -> bool:
        return is_database_url(self.location)

    @property
    def path(self) -> Path:
        """A SQLite store's file (a database URL has none)."""
        return Path(self.location)

    @property
    def shown(self) -> str:
        return masked(self.location)

    @property
    def side_folder(self) -> Path | None:
        """Where a database store's local side files are (journals): the `.crucible` folder
        of the nearest folder up from here that has one (the plugin puts them in
        `<rootdir>/.crucible/`), else `./.crucible`. None for a SQLite file (beside it)."""
        if not self.is_database:
            return None
        here = Path.cwd()
        folders = (folder / ".crucible" for folder in (here, *here.parents))
        return next((folder for folder in folders if folder.is_dir()), here / ".crucible")

    def open(self, *, readonly: bool) -> ResultStore:
        return open_store(self.location, readonly=readonly, side_folder=self.side_folder)

    def describe(self) -> str:
        """What chose the location, and what a relative path resolved to (for messages)."""
        source = {"--store": "--store", STORE_ENV: f"${STORE_ENV}"}.get(
            self.chosen_by, "the default"
        )
        if self.is_database or self.path.is_absolute():
            return source
        return f"{source}, relative to the current directory: {self.path.resolve()}"


def _expanded(given: str) -> str:
    """A URL as written; a path with `~` expanded."""
    text = given.strip()
    return text if is_database_url(text) else str(Path(text).expanduser())


def open_for_reading(location: StoreLocation) -> ResultStore:
    """The store, opened read-only; a missing path or a file that is not a store is a
    CrucibleError that says what to do (a database says so itself when it is opened)."""
    if location.is_database:
        return location.open(readonly=True)
    if not location.path.exists():
        raise CrucibleError(
            f"store {location.shown} does not exist ({location.describe()}); "
            + _where_to_look(location)
        )
    if location.path.is_dir():
        inside = [
            p for p in (location.path / "crucible.db", location.path / DEFAULT_STORE) if p.is_file()
        ]
        example = inside[0] if inside else DEFAULT_STORE
        raise CrucibleError(
            f"store {location.shown} is a folder, not a store file; give the store file, "
            f"e.g. --store {shlex.quote(str(example))}"
        )
    return location.open(readonly=True)


@contextmanager
def open_runs(
    options: argparse.Namespace, *refs: str, writable: bool = False
) -> Iterator[tuple[ResultStore, list[RunInfo]]]:
    """The store the command's options name, opened read-only (`writable`: checked first,
    then opened for writing), with the runs `refs` name (`resolve_run`); closed after."""
    location = StoreLocation.of(getattr(options, "store", None))
    # checked before it is opened for writing, which would create a missing SQLite file
    store = check_store(location).open(readonly=False) if writable else open_for_reading(location)
    try:
        yield store, [resolve_run(store, ref) for ref in refs]
    finally:
        store.close()


def check_store(location: StoreLocation) -> StoreLocation:
    """`location`, when a pytest-crucible store is there (checked before a command opens it
    for writing, which would create a missing one); else a CrucibleError, as above."""
    open_for_reading(location).close()
    return location


def _where_to_look(location: StoreLocation) -> str:
    if location.chosen_by == STORE_ENV:
        return f"correct ${STORE_ENV}, or give --store PATH_OR_URL"
    if location.chosen_by == "--store":
        return "give the path of an existing store (or a postgresql:// URL) to --store"
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
        f"store {store.location} has no run {ref!r}; "
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
            f"store {store.location} holds no run yet; run an experiment with `pytest --crucible`"
        )
    known = sorted({run.experiment for run in store.runs()})
    raise CrucibleError(
        f"store {store.location} has no run of experiment {experiment!r}; "
        + (f"its experiments: {', '.join(known)}" if known else "it holds no run")
    )
