"""Resume: a killed run continues where it stopped; edited conditions rerun alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e_support import EXPERIMENT, XDIST, durable_trials, query, read_calls, trial_rows

HANGING = """
import os, time
import pytest_crucible as crucible

CALLS = os.environ["CRUCIBLE_CALLS"]

def _call(name, text):
    with open(CALLS, "a") as f:
        f.write(f"{name} {text}\\n")
    if text == "i5" and os.environ.get("HANG") == "1":
        time.sleep(600)          # the run is killed while this trial is in flight
    return f"{name}:{text}"

def alpha(text):
    return _call("alpha", text)

def beta(text):
    return _call("beta", text)

exp = crucible.Experiment(
    name="hang",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(8)],
    conditions={"alpha": alpha, "beta": beta},
    metrics=["ok"],
    seed=3,
)

@exp.trial
def test_hang(condition, item, trial):
    trial.record(ok=condition(item.input).endswith(item.input))
"""


def _wait_for(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _kept(pytester: pytest.Pytester) -> set[tuple[str, str]]:
    """The (condition, item_id) of the passed trials that are stored or journalled."""
    return {(c, item_id) for c, item_id, status in durable_trials(pytester) if status == "passed"}


@pytest.mark.parametrize("xdist", XDIST)
def test_killed_run_resumes_without_rerunning_finished_trials(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str], store_backend: str
) -> None:
    pytester.makepyfile(test_hang=HANGING)
    env = {**os.environ, "HANG": "1", "CRUCIBLE_CALLS": str(calls_file)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--crucible", "-p", "no:cacheprovider", *xdist],
        cwd=pytester.path,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(
            lambda: any(line.endswith(" i5") for line in read_calls(calls_file)),
            "the run to reach the hanging trial",
        )
        _wait_for(lambda: bool(_kept(pytester)), "a finished trial the kill cannot lose")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # what the resume keeps: the trials stored, and those journalled (each finished trial is
    # journalled at once, stored a little later) which the resume imports; a trial finished
    # and neither is lost to the kill and runs again
    before = _kept(pytester)
    assert 0 < len(before) < 16
    run = query(pytester, "SELECT run_id, status FROM runs")
    assert [r["status"] for r in run] == ["running"]  # killed: never finished
    calls_before = len(read_calls(calls_file))

    result = pytester.runpytest("--crucible", "--crucible-resume", *xdist)
    result.assert_outcomes(passed=16 - len(before))
    resumed_calls = [line.split() for line in read_calls(calls_file)[calls_before:]]
    rerun = {(name, text) for name, text in resumed_calls}
    assert not rerun & before, "a trial that had finished ran again"
    assert len(resumed_calls) == 16 - len(before)
    rows = trial_rows(pytester)
    assert len(rows) == 16 and all(r["status"] == "passed" for r in rows)
    runs = query(pytester, "SELECT run_id, status, sessions FROM runs")
    assert runs == [{"run_id": run[0]["run_id"], "status": "completed", "sessions": 2}]
    result.stdout.fnmatch_lines([f"*{len(before)} reused from the resumed run*"])


def test_editing_one_condition_reruns_that_condition_alone(
    pytester: pytest.Pytester, calls_file: Path, store_backend: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.runpytest("--crucible").assert_outcomes(passed=12)
    first = {(r["condition"], r["item_id"], r["repeat"]): r for r in trial_rows(pytester)}
    calls_file.unlink()
    edited = EXPERIMENT.replace('return text.upper() + "!"', 'return text.upper() + "!!"')
    pytester.makepyfile(test_demo=edited)
    result = pytester.runpytest("--crucible", "--crucible-resume")
    result.assert_outcomes(passed=6, deselected=6)
    assert {line.split()[0] for line in read_calls(calls_file)} == {"shout"}
    after = {(r["condition"], r["item_id"], r["repeat"]): r for r in trial_rows(pytester)}
    for key, row in first.items():
        now = after[key]
        if row["condition"] == "shout":
            assert now["trial_key"] != row["trial_key"] and now["output"].endswith("!!")
            assert now["attempts"] == 2
        else:
            assert now == row


def test_resume_a_given_run_by_id(
    pytester: pytest.Pytester, calls_file: Path, store_backend: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.runpytest("--crucible", "-k", "terse").assert_outcomes(passed=6, deselected=6)
    pytester.runpytest("--crucible").assert_outcomes(passed=12)
    first, second = (r["run_id"] for r in query(pytester, "SELECT run_id FROM runs ORDER BY rowid"))
    assert query(pytester, "SELECT status FROM runs ORDER BY rowid")[0]["status"] == "interrupted"
    result = pytester.runpytest("--crucible", f"--crucible-resume={first}")
    result.assert_outcomes(passed=6, deselected=6)
    result.stdout.fnmatch_lines([f"crucible: resuming run {first} of 'demo': 6 passed trials*"])
    counts = query(pytester, "SELECT run_id, COUNT(*) AS n FROM trials GROUP BY run_id")
    assert {r["run_id"]: r["n"] for r in counts} == {first: 12, second: 12}


def test_unknown_run_id_lists_the_known_runs(pytester: pytest.Pytester, store_backend: str) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.runpytest("--crucible").assert_outcomes(passed=12)
    run_id = query(pytester, "SELECT run_id FROM runs")[0]["run_id"]
    result = pytester.runpytest("--crucible", "--crucible-resume=deadbeef")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*--crucible-resume=deadbeef: no such run*runs of 'demo': {run_id} (completed*"]
    )
    assert "Traceback" not in result.stderr.str()
    # the optional value swallowed a path: say so
    result = pytester.runpytest("--crucible", "--crucible-resume", "tests/")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'tests/' looks like a path*--crucible-resume=RUN_ID*"])


def test_run_records_what_reproduces_it(pytester: pytest.Pytester, store_backend: str) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.runpytest("--crucible").assert_outcomes(passed=12)
    (run,) = query(pytester, "SELECT * FROM runs")
    environment = json.loads(run["environment"])
    assert environment["python"] == sys.version.split()[0]
    assert environment["packages"]["pytest"] == pytest.__version__
    assert set(environment["git"]) == {"commit", "dirty"}
    header = json.loads(run["header"])
    assert header["conditions"] == ["terse", "shout"] and header["baseline"] == "terse"
    assert run["seed"] == 7 and run["total_trials"] == 12 and run["status"] == "completed"
    assert run["ended_at"] > run["started_at"]
    items = query(pytester, "SELECT * FROM items ORDER BY item_id")
    assert [json.loads(i["input"]) for i in items] == ["paris", "rome", "oslo"]
