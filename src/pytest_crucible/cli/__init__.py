"""The `crucible` command: look at stored runs, compare and export them (docs/cli.md).

crucible runs      list stored runs, newest first
crucible show      one run's summary: status, timings, git, trials, results table, gates
crucible compare   two runs of one experiment, paired per item as a baseline gate compares
crucible export    one run's trials as CSV, JSON lines or Parquet
crucible analyse   analyse runs again (gates, baselines, reports)
crucible report    write a run's reports
crucible import    store the finished trials that wait in journals
crucible merge     copy the runs of several stores into one; unite shard runs into one run
crucible cancel    stop a running run gracefully: no new trials start, it can be resumed
crucible serve     the web dashboard: experiments, runs, a live run, results (--host, --port)
crucible mcp       serve the MCP tools for agents over stdio (docs/mcp.md)
crucible benchmarks  the built-in benchmarks; `crucible benchmarks NAME`: how to use one

`--store PATH` goes before or after the subcommand; `crucible COMMAND --help` says more.
Exit status: 0 done, 1 a gate or a
comparison failed (or `import` left trials in journals), 2 a usage error (an unknown run, a
missing store, a bad option), 3 an internal error: a run's analysis or reports failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pytest_crucible.cli import (
    analyse,
    benchmarks,
    cancel,
    compare,
    export,
    imports,
    mcp,
    merge,
    report,
    runs,
    serve,
    show,
)
from pytest_crucible.cli._store import STORE_HELP
from pytest_crucible.cli._version import VersionAction
from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.request import ReviewStatus

__all__ = ["GATE_FAILED", "INTERNAL_ERROR", "USAGE_ERROR", "main"]

# the exit statuses, under their names of old (`ReviewStatus` owns them)
GATE_FAILED, USAGE_ERROR, INTERNAL_ERROR = (
    ReviewStatus.GATE_FAILED,
    ReviewStatus.USAGE_ERROR,
    ReviewStatus.INTERNAL_ERROR,
)
_INTERRUPTED = 130  # as a shell reports a Ctrl-C
_COMMANDS = (
    runs,
    show,
    compare,
    export,
    analyse,
    report,
    imports,
    merge,
    cancel,
    serve,
    mcp,
    benchmarks,
)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        options = _parser().parse_args(argv)  # --version prints here, maybe into a pipe
        status: int = options.handler(options)
    except CrucibleError as exc:
        print(f"crucible: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("crucible: interrupted", file=sys.stderr)
        return _INTERRUPTED
    except BrokenPipeError:  # `crucible runs | head -1`: the reader has what it wanted
        _silence_stdout()
        return 0
    return status


def _parser() -> argparse.ArgumentParser:
    # the options every subcommand shares, accepted before and after it; SUPPRESS keeps a
    # subcommand's unset option from overwriting the value given before the subcommand
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "--store", default=argparse.SUPPRESS, metavar="PATH_OR_URL", help=STORE_HELP
    )
    parser = argparse.ArgumentParser(
        prog="crucible",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n")[-1] + "\nExamples of every command: docs/cli.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[shared],
    )
    parser.add_argument(
        "--version", action=VersionAction, help="the versions of pytest-crucible, Python, pytest"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(commands, shared)
    return parser


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null, so that the interpreter's flush at
    exit does not fail again (the recipe of Python's signal documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
