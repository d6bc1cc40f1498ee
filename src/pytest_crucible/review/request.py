"""What the session end asks of its analysis child, and what the child answers.

The controller builds a `ReviewRequest` from pytest's options (`session/finish.py`) and sends
its JSON form, one line, on the stdin of the child it started early (`session/recorder.py`,
through `session/analysis_child.py`); the child (`review/session_end.py`: `main`) validates
that line back into a `ReviewRequest`. `crucible analyse` builds the same request from its
command line. Each run reviewed comes back as a `Review` (one JSON line on stdout) and the
child exits with a `ReviewStatus`.

Imported by the pytest process: nothing here loads numpy, pandas or scipy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from pytest_crucible.review.gates._result import GateResult
from pytest_crucible.review.gates.decide import GateSettings
from pytest_crucible.util.typed_json import from_json, to_json

__all__ = ["AWAIT_REQUEST", "CHILD_MODULE", "Review", "ReviewRequest", "ReviewStatus"]

# `python -m CHILD_MODULE AWAIT_REQUEST`: the analysis child (`session_end.main`), started with
# the session's first trial so that its imports overlap the trials; its request comes on stdin.
CHILD_MODULE = "pytest_crucible.review"
AWAIT_REQUEST = "--await-request"


class ReviewStatus(IntEnum):
    """The exit status of a review (`crucible analyse` and the analysis child)."""

    OK = 0
    GATE_FAILED = 1
    USAGE_ERROR = 2  # an unknown run, gate or baseline
    INTERNAL_ERROR = 3  # a run's analysis or reports failed
    INTERRUPTED = -2  # Ctrl-C during the session-end analysis: the controller's, not the child's


@dataclass(frozen=True)
class ReviewRequest:
    """Which runs to review and how: their gates, and where their reports go.

    reports: write each run's reports under reports/<experiment>/<run_id>/ (None: none);
    formats: the report formats, already checked (`reports.parse_formats`); gate_summary: a
    file the gates are appended to as Markdown (e.g. $GITHUB_STEP_SUMMARY); store: its
    location, unmasked (a database URL may carry its password: the request travels on the
    child's stdin, never on a command line, and is never shown); side_folder: the store's
    (`ResultStore.side_folder`; None: a SQLite store's own folder)."""

    store: str
    run_ids: tuple[str, ...] = ()
    gating: GateSettings = field(default_factory=GateSettings)
    reports: Path | None = None
    formats: tuple[str, ...] = ()
    gate_summary: Path | None = None
    side_folder: Path | None = None

    def for_runs(self, run_ids: tuple[str, ...]) -> ReviewRequest:
        return dataclasses.replace(self, run_ids=run_ids)

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    @classmethod
    def from_json(cls, data: Any) -> ReviewRequest:
        return from_json(cls, data)


@dataclass(frozen=True)
class Review:
    """What the session end shows of one run, and what decides its exit status."""

    run_id: str
    text: str
    gates: tuple[GateResult, ...] = ()
    gate_text: str = ""
    gate_markdown: str = ""
    reports: str | None = None
    report_error: str | None = None  # why the reports were not (all) written

    @property
    def gate_failed(self) -> bool:
        return any(not gate.passed for gate in self.gates)

    def to_json(self) -> dict[str, Any]:
        return {**to_json(self), "gates": [gate.to_dict() for gate in self.gates]}

    @classmethod
    def from_json(cls, data: Any) -> Review:
        if not isinstance(data, dict) or not isinstance(data.get("gates", []), list):
            raise ValueError("a review: expected an object whose gates are a list")
        gates = tuple(GateResult.from_dict(gate) for gate in data.get("gates", []))
        return dataclasses.replace(from_json(cls, {**data, "gates": []}), gates=gates)
