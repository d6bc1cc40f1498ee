"""`crucible import`: store the finished trials that wait in journals (docs/store.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pytest_crucible.cli._store import StoreLocation, check_store
from pytest_crucible.store.journal import import_journals

__all__ = ["add_parser"]


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "import",
        parents=[shared],
        help="store the finished trials that wait in journals (killed runs, refused writes)",
        description=__doc__,
    )
    parser.set_defaults(handler=_import)


def _import(options: argparse.Namespace) -> int:
    """Import the journals of the store (`journal.py`); exit 1 when some stay unimported."""
    store = check_store(StoreLocation.of(getattr(options, "store", None))).open(readonly=False)
    try:
        imported = import_journals(store)
    finally:
        store.close()
    print(f"crucible: {imported.message() or 'no finished trial waited in a journal'}")
    for reason in imported.kept:
        print(f"crucible: not imported: {reason}", file=sys.stderr)
    return 1 if imported.kept else 0
