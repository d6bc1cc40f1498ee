"""What happened to each run in this session (controller role), and its lines for the terminal.

A `RunOutcome` is kept by the recorder (recorder.py) for every run this session stored trials
of, resumed or joined; `outcome_summary` is its line in the "crucible results" section and in
pytest-html's summary, followed by the analysis the session-end child sent back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_crucible.review.request import Review
from pytest_crucible.session.joining import who

__all__ = ["RunOutcome", "outcome_summary"]


@dataclass
class RunOutcome:
    """What happened to one run in this session."""

    experiment: str
    run_id: str
    header: Mapping[str, Any]
    resumed: bool
    ran: set[str] = field(default_factory=set)
    status: str = "running"
    stored: int = 0
    reused: int = 0
    review: Review | None = None
    # a joined run (--crucible-join): the holder that analyses it ("": not known yet), and
    # (trials run by other processes, how many processes)
    finisher: str | None = None
    others: tuple[int, int] = (0, 0)

    @property
    def analysed_here(self) -> bool:
        return self.finisher is None or self.finisher == "self"


def outcome_summary(outcome: RunOutcome, location: str) -> str:
    """One run's line for the terminal, followed by its results table and analysis."""
    if outcome.finisher is not None:
        return _joined_summary(outcome, location)
    header = outcome.header
    line = (
        f"{outcome.experiment}  run {outcome.run_id}  ({outcome.status}; "
        f"{outcome.stored}/{header.get('total_trials', '?')} trials stored: "
        f"{len(outcome.ran)} ran now"
        + (f", {outcome.reused} reused from the resumed run" if outcome.resumed else "")
        + ")"
    )
    if not outcome.review:
        return line
    parts = [line, outcome.review.text, outcome.review.gate_text]
    if outcome.review.reports:
        parts.append(f"reports: {outcome.review.reports}/")
    return "\n".join(part for part in parts if part)


def _joined_summary(outcome: RunOutcome, location: str) -> str:
    """A joined run's lines: who ran its trials, and who analyses it."""
    others, processes = outcome.others
    line = (
        f"{outcome.experiment}  run {outcome.run_id}  ({outcome.status}; "
        f"{outcome.stored}/{outcome.header.get('total_trials', '?')} trials stored: "
        f"{len(outcome.ran)} ran in this process, {others} in {processes} other "
        "process(es))"
    )
    if outcome.finisher == "self":
        said = "this process found its last trial stored: it analysed the run"
        parts = [line, said]
        if outcome.review:
            parts += [outcome.review.text, outcome.review.gate_text]
            if outcome.review.reports:
                parts.append(f"reports: {outcome.review.reports}/")
        return "\n".join(part for part in parts if part)
    if outcome.finisher:
        return (
            f"{line}\nits analysis, gates and reports are made by {who(outcome.finisher)}, "
            "the process that found its last trial stored"
        )
    return (
        f"{line}\nits analysis, gates and reports will be made by the process that stores "
        f"its last trial (or by `crucible --store {location} analyse "
        f"{outcome.run_id}`)"
    )
