"""Opening a store by its location: the one place that picks a backend.

Every other layer opens stores through `open_store` and sees them as a `ResultStore`, so a
second backend (PostgreSQL) is chosen here from the location and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from pytest_crucible.store.interface import ResultStore

__all__ = ["DEFAULT_BASELINES_DIR", "DEFAULT_STORE", "open_store"]

DEFAULT_STORE = Path(".crucible") / "crucible.db"
DEFAULT_BASELINES_DIR = Path(".crucible") / "baselines"  # portable baseline files, to commit


def open_store(
    location: str | Path, *, readonly: bool = False, verify: bool = False
) -> ResultStore:
    """Open the store at `location` (today a SQLite file). `readonly`: never write (a missing
    store is an error); `verify`: check the whole file before the run writes to it."""
    from pytest_crucible.store.sqlite import Store

    return Store(location, readonly=readonly, verify=verify)
