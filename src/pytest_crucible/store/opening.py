"""Opening a store by its location: the one place that picks a backend.

Every other layer opens stores through `open_store` and sees them as a `ResultStore`, so a
second backend (PostgreSQL) is chosen here from the location and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from pytest_crucible.errors import StoreError
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.locations import is_database_url, masked

__all__ = ["DEFAULT_BASELINES_DIR", "DEFAULT_STORE", "open_store"]

DEFAULT_STORE = Path(".crucible") / "crucible.db"
DEFAULT_BASELINES_DIR = Path(".crucible") / "baselines"  # portable baseline files, to commit


def open_store(
    location: str | Path,
    *,
    readonly: bool = False,
    verify: bool = False,
    side_folder: Path | None = None,
) -> ResultStore:
    """Open the store at `location`: a SQLite file, or a `postgresql://` URL. `readonly`:
    never write (a missing store is an error); `verify`: check the whole store before the run
    writes to it; `side_folder`: where a database store keeps its local side files (a SQLite
    store keeps them beside its file)."""
    if is_database_url(location):
        return _open_database(str(location), readonly=readonly, side_folder=side_folder)
    from pytest_crucible.store.sqlite import Store

    return Store(location, readonly=readonly, verify=verify)


def _open_database(url: str, *, readonly: bool, side_folder: Path | None) -> ResultStore:
    """A PostgreSQL store (`verify` does not apply: the server keeps its own pages sound)."""
    try:
        from pytest_crucible.store.postgres import PostgresStore
    except ImportError as exc:
        if exc.name is None or not exc.name.startswith("psycopg"):
            raise
        raise StoreError(
            f"store {masked(url)}: a PostgreSQL store needs psycopg; install it with "
            "pip install 'pytest-crucible[postgres]'"
        ) from None
    return PostgresStore(url, readonly=readonly, side_folder=side_folder)
