"""An xdist worker that dies mid-trial (`os._exit(1)`, a segfault): the trial it was running
is stored as failed ("worker crashed") and dead-lettered, is not run again in the run (it
would crash the next worker too), every other trial is stored once, the run ends non-zero,
and --crucible-retry-failed / --crucible-resume run the crashed trial alone.

Each run is a real `pytest -n 2` in a subprocess, bounded by a generous timeout: before the
fix the run hung, so a timeout is how these tests failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import query, read_calls, trial_rows

RUN_TIMEOUT_S = 300  # a run takes 10-30 s on 2 busy cores; a hang is what this bounds

# Item CRASH_ITEM's condition notes its call, then kills its process while the file
# CRASH_FLAG exists; every other call just answers.
CRASHING = """
import ctypes, os
import pytest_crucible as crucible

def answer(text):
    with open(os.environ["CRUCIBLE_CALLS"], "a") as calls:
        calls.write(text + "\\n")
    if text == os.environ["CRASH_ITEM"] and os.path.exists(os.environ["CRASH_FLAG"]):
        if os.environ["CRASH_KIND"] == "segfault":
            ctypes.string_at(0)
        os._exit(1)
    return text.upper()

demo = crucible.Experiment(
    name="demo",
    dataset=[
        {"id": f"i{n}", "input": f"i{n}", "expected": f"I{n}"}
        for n in range(int(os.environ["ITEMS"]))
    ],
    conditions={"plain": answer},
    metrics={"correct": crucible.Metric(kind="binary")},
    seed=7,
)

@demo.trial
def test_demo(condition, item, trial):
    trial.record(correct=condition(item.input) == item.expected)
"""


def _run(
    pytester: pytest.Pytester, *args: str, items: int = 8, kind: str = "exit"
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CRUCIBLE_CALLS": str(pytester.path / "calls.log"),
        "CRASH_ITEM": "i3",
        "CRASH_FLAG": str(pytester.path / "crash.flag"),
        "CRASH_KIND": kind,
        "ITEMS": str(items),
    }
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)  # when this suite itself runs under xdist
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly"]
    command += ["--crucible", "--crucible-report=none", *args]
    return subprocess.run(
        command,
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def _setup(pytester: pytest.Pytester) -> Path:
    pytester.makepyfile(test_crash=CRASHING)
    flag = pytester.path / "crash.flag"
    flag.write_text("crash\n")
    return flag


def _calls(pytester: pytest.Pytester) -> list[str]:
    return read_calls(pytester.path / "calls.log")


def _check_crash_stored(pytester: pytest.Pytester, items: int, death: str) -> dict[str, object]:
    """Every trial stored exactly once; i3 failed as crashed, the others passed."""
    rows = trial_rows(pytester)
    assert sorted(row["item_id"] for row in rows) == sorted(f"i{n}" for n in range(items))
    crashed = next(row for row in rows if row["item_id"] == "i3")
    assert crashed["status"] == "failed"
    assert crashed["error"]["type"] == "WorkerCrashed"
    assert "worker gw" in crashed["error"]["message"]
    assert f"crashed ({death})" in crashed["error"]["message"]
    assert all(row["status"] == "passed" for row in rows if row["item_id"] != "i3")
    return crashed


@pytest.mark.parametrize(
    ("kind", "death"), [("exit", "exit code 1"), ("segfault", "signal SIGSEGV")]
)
def test_the_trial_that_crashed_its_worker_is_stored_failed_and_retried_alone(
    pytester: pytest.Pytester, kind: str, death: str
) -> None:
    flag = _setup(pytester)
    result = _run(pytester, "-n", "2", kind=kind)
    output = result.stdout + result.stderr

    assert result.returncode == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    crashed = _check_crash_stored(pytester, 8, death)
    assert _calls(pytester).count("i3") == 1, "the crashed trial was run again"
    assert "crucible: worker crashes" in output
    assert "--crucible-retry-failed=" in output
    assert "Traceback" not in result.stdout.split("crucible: worker crashes")[1]
    run_id = query(pytester, "SELECT run_id FROM runs")[0]["run_id"]
    letters = pytester.path / ".crucible" / "dead_letters" / f"demo-{run_id}.jsonl"
    keys = [json.loads(line)["trial_key"] for line in letters.read_text().splitlines()]
    assert keys == [crashed["trial_key"]]

    flag.unlink()  # fixed: the trial no longer crashes
    before = _calls(pytester)
    retried = _run(pytester, "-n", "2", f"--crucible-retry-failed={run_id}")
    assert retried.returncode == pytest.ExitCode.OK, (retried.stdout + retried.stderr)[-3000:]
    assert _calls(pytester)[len(before) :] == ["i3"], "only the crashed trial runs again"
    rows = trial_rows(pytester)
    assert len(rows) == 8 and all(row["status"] == "passed" for row in rows)


def test_a_crash_among_trials_in_flight_is_pinned_on_the_trial_that_crashed(
    pytester: pytest.Pytester,
) -> None:
    """Under --crucible-concurrency 4 xdist blames the item pytest was running, maybe not
    the trial (started ahead) that crashed: the suspects run again one at a time, and only
    the one that crashes alone is stored as crashed."""
    flag = _setup(pytester)
    result = _run(pytester, "-n", "2", "--crucible-concurrency", "4", items=24)
    output = result.stdout + result.stderr

    assert result.returncode == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    _check_crash_stored(pytester, 24, "exit code 1")
    assert 1 <= _calls(pytester).count("i3") <= 2  # in flight with others, then alone

    flag.unlink()
    before = _calls(pytester)
    resumed = _run(pytester, "-n", "2", "--crucible-concurrency", "4", "--crucible-resume")
    assert resumed.returncode == pytest.ExitCode.OK, (resumed.stdout + resumed.stderr)[-3000:]
    assert _calls(pytester)[len(before) :] == ["i3"], "resume runs the crashed trial alone"
    assert len(trial_rows(pytester)) == 24


def test_with_no_worker_left_the_run_ends_and_resume_finishes_it(
    pytester: pytest.Pytester,
) -> None:
    """--max-worker-restart 0: the crashed worker is not replaced, so its trials cannot run
    or be recorded; the run still ends, says so, and is resumable."""
    flag = _setup(pytester)
    result = _run(pytester, "-n", "2", "--max-worker-restart", "0")
    output = result.stdout + result.stderr

    assert result.returncode == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    assert "no worker was left to record it" in output
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "interrupted"
    stored = trial_rows(pytester)
    assert all(row["status"] == "passed" for row in stored)
    assert len({row["item_id"] for row in stored}) == len(stored) < 8

    flag.unlink()
    before = _calls(pytester)
    resumed = _run(pytester, "-n", "2", "--crucible-resume")
    assert resumed.returncode == pytest.ExitCode.OK, (resumed.stdout + resumed.stderr)[-3000:]
    rerun = _calls(pytester)[len(before) :]
    assert "i3" in rerun and not {row["item_id"] for row in stored} & set(rerun)
    rows = trial_rows(pytester)
    assert len(rows) == 8 and all(row["status"] == "passed" for row in rows)
