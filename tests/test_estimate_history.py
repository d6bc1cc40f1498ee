"""run/history.py: what a previous run measured, from its trials' times and its sessions."""

from __future__ import annotations

import pytest

from pytest_crucible.run.history import history_of
from pytest_crucible.store.run_records import TrialSpan


def _at(second: float) -> str:
    return f"2026-01-01T00:{int(second) // 60:02d}:{second % 60:06.3f}+00:00"


def _span(condition: str, start: float, end: float, tokens: int | None = 10) -> TrialSpan:
    return TrialSpan(condition, _at(start), _at(end), tokens, 2 * tokens if tokens else None, None)


def test_busy_time_is_shared_by_durations_and_gaps_between_sessions_do_not_count() -> None:
    # two sessions: 0-10 s (a: two trials in parallel), then 100-104 s (b: one trial)
    spans = [_span("a", 1, 5), _span("a", 1, 5), _span("b", 100, 102, tokens=None)]
    sessions = [(_at(0), _at(10)), (_at(99), _at(104))]
    history = history_of("r1", spans, sessions)
    assert history is not None and history.trials == 3
    # busy: 4 s + 2 s; durations: 8 s + 2 s, so a trial's wall share is 0.6 of its duration
    assert history.conditions["a"].seconds_per_trial == pytest.approx(4 * 0.6)
    assert history.conditions["b"].seconds_per_trial == pytest.approx(2 * 0.6)
    assert history.overhead_s == pytest.approx((10 + 5 - 6) / 2)
    assert history.conditions["a"].output_tokens_per_trial == 20
    assert history.conditions["b"].input_tokens_per_trial is None


def test_without_timed_trials_or_sessions() -> None:
    assert history_of("r1", [TrialSpan("a", None, None, 1, 1, None)], []) is None
    history = history_of("r1", [_span("a", 0, 2)], [])
    assert history is not None and history.overhead_s is None
