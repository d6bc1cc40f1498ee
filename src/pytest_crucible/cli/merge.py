"""`crucible merge OUT IN [IN ...]`: copy the runs of several stores into one.

OUT is created when missing. The runs, trials (with their logs, artifacts and usage),
sessions, baselines and the call cache of every IN go to OUT. The same run in several
stores becomes one run with the union of their trials, as do the shard runs of one matrix
(`--crucible-shard`, same experiment, fingerprint and group): then `crucible --store OUT
analyse RUN` analyses the whole run. A trial stored with different results in two stores
is refused, and nothing is written; merging again changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_crucible.errors import CrucibleError
from pytest_crucible.store import ResultStore, open_store
from pytest_crucible.store.locations import is_database_url, masked
from pytest_crucible.store.merging import plan_merge

__all__ = ["add_parser"]


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "merge",
        help="copy the runs of several stores into one; unite shard runs into one run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out", metavar="OUT", help="the store to merge into (created if missing)")
    parser.add_argument(
        "inputs", nargs="+", metavar="IN", help="a store to copy from (a path or a URL)"
    )
    parser.set_defaults(handler=_merge)


def _merge(options: argparse.Namespace) -> int:
    out_location = str(options.out)
    given = [str(location) for location in options.inputs if not _same(location, out_location)]
    inputs: list[ResultStore] = []
    out: ResultStore | None = None
    try:
        for location in dict.fromkeys(given):
            inputs.append(open_store(location, readonly=True))
        if is_database_url(out_location):  # a new database gets the store's tables here
            out = open_store(out_location)
        elif _exists(out_location):
            out = open_store(out_location, readonly=True)
        plan = plan_merge(out, inputs, masked(out_location))
    finally:
        for store in (*inputs, out):
            if store is not None:
                store.close()
    writing = open_store(out_location)
    try:
        plan.write(writing)
    finally:
        writing.close()
    for run in plan.runs:
        print(f"crucible: {run.describe()}")
    if not plan.runs:
        print(f"crucible: no run in {', '.join(masked(g) for g in given) or 'the inputs'}")
    if any(run.added and run.content.run["analysis"] is None for run in plan.runs):
        ids = " ".join(run.run_id for run in plan.runs if run.content.run["analysis"] is None)
        print(
            f"crucible: analyse the merged runs (gates, baselines, reports) with "
            f"`crucible --store {masked(out_location)} analyse {ids}`"
        )
    return 0


def _exists(location: str) -> bool:
    """Whether the file OUT holds a store already."""
    path = Path(location)
    if path.is_dir():
        raise CrucibleError(
            f"crucible merge: OUT {location} is a folder; give a store file, e.g. "
            f"{path / 'crucible.db'}"
        )
    return path.exists()


def _same(location: str, out: str) -> bool:
    """Whether an input is OUT itself (its runs are OUT's already)."""
    if is_database_url(location) or is_database_url(out):
        return location == out
    return Path(location).resolve() == Path(out).resolve()
