"""A trial that calls sys.exit() or raises KeyboardInterrupt, in a condition (sync or async)
or in the trial function: at any concurrency, in one process or under xdist, SystemExit fails
that trial and KeyboardInterrupt stops the run gracefully (what finished is stored, the run
resumes); never a hang.

Each run is a subprocess with a timeout: before the fix, such a trial run on the process's
event loop stopped the loop and the run waited forever."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import XDIST, query, read_calls, trial_rows

# Generous: a run takes a few seconds; a hang is what this catches, not a slow machine.
TIMEOUT_S = 180

# Item i3 exits in the place EXIT_IN names (a condition name, or "trial" for the trial
# function), with sys.exit(3) or KeyboardInterrupt (EXIT_WITH). Two experiments: one with an
# async trial function, one with a sync one (they run on different paths).
EXITING = """
import asyncio, os, sys
import pytest_crucible as crucible

CALLS = os.environ["CRUCIBLE_CALLS"]

def _maybe_exit(where, text):
    # read at call time: a module constant would be part of the conditions' identity
    if where != os.environ.get("EXIT_IN") or text != "i3":
        return
    if os.environ.get("EXIT_WITH") == "exit":
        sys.exit(3)
    if os.environ.get("EXIT_WITH") == "interrupt":
        raise KeyboardInterrupt

def sync_condition(text):
    with open(CALLS, "a") as f:
        f.write(f"sync {text}\\n")
    _maybe_exit("sync", text)
    return text

async def async_condition(text):
    with open(CALLS, "a") as f:
        f.write(f"async {text}\\n")
    await asyncio.sleep(0.01)
    _maybe_exit("async", text)
    return text

def _experiment(name):
    return crucible.Experiment(
        name=name,
        dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(12)],
        conditions={"sync": sync_condition, "async": async_condition},
        metrics=["ok"],
        seed=1,
    )

awaited = _experiment("awaited")
called = _experiment("called")

@awaited.trial
async def test_awaited(condition, item, trial):
    answer = await condition(item.input)
    _maybe_exit("trial", item.input)
    trial.record(ok=answer == item.input)

@called.trial
def test_called(condition, item, trial):
    answer = condition(item.input)
    _maybe_exit("trial", item.input)
    trial.record(ok=answer == item.input)
"""
TRIALS = 2 * 2 * 12  # experiments x conditions x items


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", *args, timeout=TIMEOUT_S
    )


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("concurrency", ["1", "8"])
@pytest.mark.parametrize("exit_in", ["sync", "async", "trial"])
def test_sys_exit_in_a_trial_fails_that_trial_only(
    pytester: pytest.Pytester,
    calls_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    exit_in: str,
    concurrency: str,
    xdist: list[str],
) -> None:
    pytester.makepyfile(test_exiting=EXITING)
    monkeypatch.setenv("EXIT_IN", exit_in)
    monkeypatch.setenv("EXIT_WITH", "exit")
    result = _run(pytester, "--crucible-concurrency", concurrency, *xdist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    rows = trial_rows(pytester)
    failed = [row for row in rows if row["status"] == "failed"]
    # one trial of each experiment exits: both conditions' with "trial", else that condition's
    expected = 4 if exit_in == "trial" else 2
    assert len(rows) == TRIALS and len(failed) == expected, [r["status"] for r in rows]
    for row in failed:
        assert row["item_id"] == "i3"
        where = "trial function" if exit_in == "trial" else "condition"
        assert f"the {where} called sys.exit(3)" in row["error"]["message"], row["error"]
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "completed"


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("concurrency", ["1", "8"])
@pytest.mark.parametrize("exit_in", ["sync", "async", "trial"])
def test_keyboard_interrupt_in_a_trial_stops_the_run_gracefully(
    pytester: pytest.Pytester,
    calls_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    exit_in: str,
    concurrency: str,
    xdist: list[str],
) -> None:
    pytester.makepyfile(test_exiting=EXITING)
    monkeypatch.setenv("EXIT_IN", exit_in)
    monkeypatch.setenv("EXIT_WITH", "interrupt")
    # the awaited experiment only: the run stops there, whichever runs first under xdist
    result = _run(pytester, "--crucible-concurrency", concurrency, "-k", "awaited", *xdist)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()[-3000:]
    rows = trial_rows(pytester)
    assert rows and all(row["status"] == "passed" for row in rows), rows
    assert len(rows) < TRIALS // 2
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "interrupted"
    calls = read_calls(calls_file)
    interrupted = [
        call for call in calls if call.endswith(" i3") and exit_in in (call[:-3], "trial")
    ]
    assert interrupted
    assert len(calls) - len(interrupted) == len(rows), "every trial that finished is stored"

    monkeypatch.setenv("EXIT_WITH", "")
    resumed = _run(pytester, "-k", "awaited", "--crucible-resume")
    assert resumed.ret == pytest.ExitCode.OK, resumed.stdout.str()[-3000:]
    stored = len(rows)
    rows = trial_rows(pytester)
    assert len(rows) == TRIALS // 2 and all(row["status"] == "passed" for row in rows)
    # the resume ran only what was not stored (the interrupted trial among them)
    assert len(read_calls(calls_file)) == len(calls) + TRIALS // 2 - stored
