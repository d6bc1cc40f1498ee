"""Reproducibility end to end: per-trial seeds from the experiment seed and the trial key,
the same in every process, across resumes, and unchanged by retries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from e2e_support import XDIST, query, trial_rows

# A stochastic condition drawing from the trial's generator. The first call of item i0 in a
# directory fails once (retried after a jittered delay): the jitter must not use trial.rng.
DICE = """
import os
from pathlib import Path
import pytest_crucible as crucible

def roll(text, rng):
    marker = Path(os.environ["CRUCIBLE_CALLS"]).with_name(f"failed-once-{text}")
    if text == "i0" and not marker.exists():
        marker.touch()
        raise ConnectionResetError("reset")
    return [rng.random() for _ in range(3)]

exp = crucible.Experiment(
    name="dice",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(5)],
    conditions={"hot": roll, "cold": crucible.Condition(roll, version="1")},
    metrics=["first", "total", "die"],
    repeat=2,
    seed=SEED,
    error_handling=crucible.ErrorHandling(max_retries=2, initial_delay=0.01, jitter="full"),
)

@exp.trial
def test_dice(condition, item, trial):
    draws = condition(item.input, trial.rng)
    trial.record(first=draws[0], total=sum(draws), die=trial.rng.randint(1, 6))
"""


def _by_trial(pytester: pytest.Pytester, run_id: str) -> dict[tuple[str, str, int], Any]:
    rows = [r for r in trial_rows(pytester) if r["run_id"] == run_id]
    return {(r["condition"], r["item_id"], r["repeat"]): r for r in rows}


def _run_ids(pytester: pytest.Pytester) -> list[str]:
    return [r["run_id"] for r in query(pytester, "SELECT run_id FROM runs ORDER BY rowid")]


@pytest.mark.parametrize("xdist", XDIST)
def test_the_same_seed_stores_the_same_metrics_and_another_seed_does_not(
    pytester: pytest.Pytester, calls_file: object, xdist: list[str]
) -> None:
    pytester.makepyfile(test_dice=DICE.replace("SEED", "11"))
    for args in ([], [], ["--crucible-seed=12"], ["--crucible-seed=11"]):
        result = pytester.runpytest("--crucible", "--crucible-report=none", *args, *xdist)
        result.assert_outcomes(passed=20)
    first, second, other, overridden = (_by_trial(pytester, r) for r in _run_ids(pytester))
    assert len(first) == 20
    retried = json.loads(first[("hot", "i0", 0)]["recovery"])
    assert retried["attempts"] == 2  # a jittered retry in the first run only ...
    assert json.loads(second[("hot", "i0", 0)]["recovery"])["attempts"] == 1
    for key, row in first.items():  # ... and still the same draws in both runs
        assert second[key]["metrics"] == row["metrics"], key
        assert second[key]["trial_key"] == row["trial_key"]
        assert overridden[key]["metrics"] == row["metrics"], key  # --crucible-seed=11 is 11
        assert other[key]["metrics"]["first"] != row["metrics"]["first"], key
        assert other[key]["trial_key"] != row["trial_key"]
    # trials differ from one another: each has its own seed
    assert len({row["metrics"]["first"] for row in first.values()}) == 20
    seeds = query(pytester, "SELECT seed FROM runs ORDER BY rowid")
    assert [s["seed"] for s in seeds] == [11, 11, 12, 11]


@pytest.mark.parametrize("xdist", XDIST)
def test_seeds_are_the_same_in_every_process_and_across_a_resume(
    pytester: pytest.Pytester, calls_file: object, xdist: list[str]
) -> None:
    # no seed declared: the session draws one, and a resume continues with the run's seed
    pytester.makepyfile(test_dice=DICE.replace("SEED", "None"))
    partial = pytester.runpytest("--crucible", "--crucible-report=none", "-k", "hot", *xdist)
    partial.assert_outcomes(passed=10, deselected=0 if xdist else 10)
    (run,) = query(pytester, "SELECT run_id, seed, status FROM runs")
    assert run["status"] == "interrupted"
    before = _by_trial(pytester, run["run_id"])
    resumed = pytester.runpytest(
        "--crucible", "--crucible-report=none", "--crucible-resume", *xdist
    )
    resumed.assert_outcomes(passed=10, deselected=0 if xdist else 10)
    after = _by_trial(pytester, run["run_id"])
    assert len(after) == 20 and all(after[key] == row for key, row in before.items())

    # a fresh run with that seed, in one process, draws exactly what the resumed run stored
    fresh = pytester.runpytest(
        "--crucible", "--crucible-report=none", f"--crucible-seed={run['seed']}"
    )
    fresh.assert_outcomes(passed=20)
    reference = _by_trial(pytester, _run_ids(pytester)[-1])
    assert reference.keys() == after.keys()
    for key, row in reference.items():
        assert after[key]["metrics"] == row["metrics"], key
        assert after[key]["trial_key"] == row["trial_key"], key
    if xdist:  # the trials really were spread over both workers
        assert {r["worker"] for r in after.values()} == {"gw0", "gw1"}
