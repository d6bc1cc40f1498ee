"""`crucible runs`: the stored runs, newest first."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pytest_crucible.cli._store import StoreLocation, open_for_reading
from pytest_crucible.store.journal import journal_folder
from pytest_crucible.store.locations import quoted

__all__ = ["add_parser"]


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "runs", parents=[shared], help="list stored runs, newest first", description=__doc__
    )
    parser.add_argument(
        "--experiment", default=None, metavar="NAME", help="only the runs of this experiment"
    )
    parser.set_defaults(handler=_runs)


def _runs(options: argparse.Namespace) -> int:
    location = StoreLocation.of(getattr(options, "store", None))
    store = open_for_reading(location)
    try:
        waiting = journal_folder(store)
        if any(waiting.glob("*.jsonl")):
            print(
                f"crucible: finished trials wait in journals ({waiting}); "
                f"`crucible import --store {quoted(location.location)}` stores them",
                file=sys.stderr,
            )
        for run in store.runs(options.experiment):
            print(
                f"{run.run_id}  {run.experiment:<24} {run.status:<11} "
                f"{run.passed_trials}/{run.total_trials} passed  {run.started_at[:19]}"
            )
    finally:
        store.close()
    return 0
