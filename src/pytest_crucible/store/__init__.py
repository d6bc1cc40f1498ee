"""Where results live, and the only place that speaks SQL: the operations every backend
implements (`interface.py`) and the records they exchange (`run_records.py`,
`scale_records.py`, `console_records.py`), the trial record and the trials table's columns
(`records.py`), the SQLite backend (`sqlite.py`, `sqlite_reads.py`), its schema and rows, the
PostgreSQL backend (`postgres.py` and its `postgres_*.py` parts), the writer thread, the
journals, the run holders, the environment record, and the pandas frames read back."""

from __future__ import annotations

import importlib
from typing import Any

from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.opening import DEFAULT_BASELINES_DIR, DEFAULT_STORE, open_store

__all__ = ["DEFAULT_BASELINES_DIR", "DEFAULT_STORE", "ResultStore", "open_store"]


def __getattr__(name: str) -> Any:
    # `pytest_crucible.store` was one module before the layer folders: its names live on
    # in `store.sqlite`, imported on first use (the package stays cheap to import)
    module = importlib.import_module("pytest_crucible.store.sqlite")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
