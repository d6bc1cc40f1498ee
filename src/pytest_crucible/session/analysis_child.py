"""The session-end analysis child as the controller sees it (`review/session_end.py`).

The child is started early (recorder.py, with the session's first trial) so that it imports
numpy, pandas, scipy and the reports while the trials run; at the session end it reads its
`ReviewRequest` on stdin and answers one JSON line per run it reviewed. This module starts
it by module name (the pytest process never imports its heavy side), reads its answers, and
says what failed when it did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_crucible.review.request import AWAIT_REQUEST, CHILD_MODULE, Review
from pytest_crucible.store.locations import quoted

if TYPE_CHECKING:
    from pytest_crucible.session.outcomes import RunOutcome

__all__ = ["review_failure", "reviews_from", "start_analysis_child"]

_STDERR_LINES = 15  # of a failed analysis child's error output, shown in the summary


def start_analysis_child() -> subprocess.Popen[str]:
    """Start the analysis child now: it imports numpy, pandas, scipy and the reports
    (about 2 s) while the trials run, then waits for its request on stdin."""
    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding the package
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    }
    return subprocess.Popen(
        [sys.executable, "-m", CHILD_MODULE, AWAIT_REQUEST],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def reviews_from(stdout: str) -> dict[str, Review]:
    """The analysis child's one JSON line per run it reviewed, by run id."""
    reviews = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            try:
                review = Review.from_json(json.loads(line))
            except ValueError:  # a line cut short by a crash
                continue
            reviews[review.run_id] = review
    return reviews


def review_failure(
    returncode: int,
    stderr: str,
    missing: Sequence[RunOutcome],
    unwritten: Sequence[RunOutcome],
    location: str,
) -> str:
    """What the summary says when the session-end analysis failed: which runs have no
    analysis, gates or reports, which reports are missing, the child's last error lines."""
    lines = [
        f"the session-end analysis failed (`crucible analyse` exited with status {returncode})"
        "; the trials are stored"
    ]
    for outcome in missing:
        lines.append(
            f"  run {outcome.run_id} of {outcome.experiment!r}: no analysis, no gates and no "
            "reports"
        )
    said = []
    for outcome in unwritten:
        error = outcome.review.report_error if outcome.review else None
        said.append(f"crucible: run {outcome.run_id}: {error}")
        lines.append(f"  run {outcome.run_id}: {error}")
    tail = [line for line in stderr.strip().splitlines() if line not in said][-_STDERR_LINES:]
    if tail:
        lines.append("  its error output ends with:")
        lines.extend(f"    {line}" for line in tail)
    if missing:
        ids = " ".join(outcome.run_id for outcome in missing)
        store = quoted(location)
        lines.append(
            f"  once the cause is fixed, analyse them with `crucible --store {store} analyse "
            f"{ids}` and write their reports with `crucible --store {store} report RUN_ID`"
        )
    return "\n".join(lines)
