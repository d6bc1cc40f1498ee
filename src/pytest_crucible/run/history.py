"""What the experiment's previous run measured, for `--crucible-estimate`: tokens, cost and
time per trial of each condition, how many trials it kept in flight, and the time its
sessions spent outside the trials (pytest start-up, collection, the session-end review).

Plain Python over the store's own reads (`trial_spans`, `sessions`): it runs in the pytest
process, where pandas is not loaded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.run_records import TrialSpan

__all__ = ["History", "MeasuredCondition", "history_of", "load_history"]


@dataclass(frozen=True)
class MeasuredCondition:
    """Means per passed trial of one condition (None: no trial of it recorded the figure)."""

    trials: int
    input_tokens_per_trial: float | None
    output_tokens_per_trial: float | None
    cost_per_trial: float | None
    seconds_per_trial: float  # the run's busy wall time per trial, shared by trial durations


@dataclass(frozen=True)
class History:
    run_id: str
    trials: int
    overhead_s: float | None  # per session, outside the trials (None: sessions not recorded)
    conditions: dict[str, MeasuredCondition]


def load_history(store: ResultStore, experiment: str) -> History | None:
    """The measurements of the experiment's newest run that has passed, timed trials."""
    for info in store.runs(experiment):
        if info.passed_trials:
            history = history_of(
                info.run_id, store.trial_spans(info.run_id), store.sessions(info.run_id)
            )
            if history is not None:
                return history
    return None


def history_of(
    run_id: str, spans: Sequence[TrialSpan], sessions: Sequence[tuple[str, str]]
) -> History | None:
    timed = [(span, _seconds(span.started_at), _seconds(span.ended_at)) for span in spans]
    intervals = [(start, end) for _, start, end in timed if start is not None and end is not None]
    if not intervals:
        return None
    busy = _union_length(intervals)
    durations = sum(end - start for start, end in intervals)
    # a condition's share of the busy wall time is its share of the trials' durations
    wall_per_second = busy / durations if durations > 0 else 0.0
    by_condition: dict[str, list[tuple[TrialSpan, float]]] = defaultdict(list)
    for span, start, end in timed:
        if start is not None and end is not None:
            by_condition[span.condition].append((span, (end - start) * wall_per_second))
    session_walls = [_wall(started, ended) for started, ended in sessions]
    overhead = None
    if session_walls:
        overhead = max(0.0, (sum(session_walls) - busy) / len(session_walls))
    return History(
        run_id=run_id,
        trials=len(intervals),
        overhead_s=overhead,
        conditions={name: _measured(rows) for name, rows in by_condition.items()},
    )


def _measured(rows: list[tuple[TrialSpan, float]]) -> MeasuredCondition:
    spans = [span for span, _ in rows]
    return MeasuredCondition(
        trials=len(rows),
        input_tokens_per_trial=_mean([s.input_tokens for s in spans]),
        output_tokens_per_trial=_mean([s.output_tokens for s in spans]),
        cost_per_trial=_mean([s.cost_usd for s in spans]),
        seconds_per_trial=sum(seconds for _, seconds in rows) / len(rows),
    )


def _mean(values: Sequence[float | int | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _union_length(intervals: list[tuple[float, float]]) -> float:
    """How long at least one interval was open (a resumed run's gaps between sessions and
    its idle moments count for nothing)."""
    total = 0.0
    current_start, current_end = None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return total


def _seconds(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def _wall(started: str, ended: str) -> float:
    start, end = _seconds(started), _seconds(ended)
    return max(0.0, end - start) if start is not None and end is not None else 0.0
