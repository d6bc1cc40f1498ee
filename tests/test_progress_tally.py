"""The progress tally's counts: what the display shows while trials run and at the end."""

from __future__ import annotations

from pytest_crucible.session.progress import Running, Tally, WorkerView, plain_lines
from pytest_crucible.store.records import TrialRecord


def _stored(tally: Tally, n: int) -> None:
    for i in range(n):
        tally.record(TrialRecord("e", f"k{i}", "c", item_id=str(i), repeat=0, status="passed"))


def _beacon(running: int) -> WorkerView:
    return WorkerView({"e": {"c": 4}}, [Running("e", "c", f"t{i}") for i in range(running)])


def test_a_beacon_that_lags_the_store_never_shows_a_stored_trial_in_flight() -> None:
    tally = Tally()
    tally.see(_beacon(running=2))  # written when two trials ran
    _stored(tally, 3)
    assert tally.views()[0].sum("in_flight") == 1  # only one trial is left to run
    _stored(tally, 4)
    assert "4/4 trials done, 0 failed, 0 in flight" in plain_lines(tally.views())[0]


def test_once_the_tests_ended_nothing_is_in_flight() -> None:
    tally = Tally()
    tally.see(_beacon(running=2))
    _stored(tally, 1)
    assert tally.views()[0].sum("in_flight") == 2
    tally.settle()
    assert tally.views()[0].sum("in_flight") == 0
    assert tally.total == 4  # the totals stay
