"""`crucible cancel RUN`: stop a run that is going on, from outside its session.

The request is stored with the run; every pytest session writing the run polls for it
(about twice a second) and stops gracefully: no new trial starts, the running ones finish
and are stored, the session end runs as usual, and the run is marked `cancelled`. Continue
it later with `pytest --crucible --crucible-resume=RUN_ID`.
"""

from __future__ import annotations

import argparse
import getpass
import socket
from typing import Any

from pytest_crucible.cli._store import open_runs
from pytest_crucible.errors import CrucibleError
from pytest_crucible.store.run_records import RunInfo

__all__ = ["add_parser"]


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "cancel",
        parents=[shared],
        help="stop a running run gracefully (it can be resumed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "run", metavar="RUN", help="a run id, a unique prefix of one, or latest[:EXPERIMENT]"
    )
    parser.add_argument(
        "--reason",
        default=None,
        metavar="TEXT",
        help="why (shown by the session that stops, and kept with the run); default: who "
        "cancelled, from where",
    )
    parser.set_defaults(handler=_cancel)


def _cancel(options: argparse.Namespace) -> int:
    reason = (options.reason or "").strip() or _who()
    with open_runs(options, options.run, writable=True) as (store, [run]):
        pending = store.cancel_request(run.run_id) if run.status == "running" else None
        if not store.request_cancel(run.run_id, reason):
            latest = store.run(run.run_id) or run
            raise CrucibleError(_not_running(latest))
    if pending is not None:
        print(
            f"crucible: run {run.run_id} of {run.experiment}: a cancel was already requested "
            f"({pending}); its sessions are stopping"
        )
        return 0
    print(
        f"crucible: cancel requested for run {run.run_id} of {run.experiment} "
        f"({run.stored_trials}/{run.total_trials} trials stored): the sessions writing it "
        "stop within a second: no new trials start, the running ones finish and are stored, "
        "and the run is marked cancelled. Continue it later with "
        f"`pytest --crucible --crucible-resume={run.run_id}`"
    )
    return 0


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = "someone"
    return f"by {user}@{socket.gethostname()} with `crucible cancel`"


def _not_running(run: RunInfo) -> str:
    ended = f", ended {run.ended_at[:19]}" if run.ended_at else ""
    message = (
        f"run {run.run_id} of {run.experiment} is {run.status}{ended}: only a running run "
        "can be cancelled"
    )
    if run.status in ("interrupted", "cancelled", "failed"):
        message += (
            f"; it stopped before all its trials ran: continue it with "
            f"`pytest --crucible --crucible-resume={run.run_id}`"
        )
    return message + " (`crucible runs` lists the runs and their statuses)"
