"""Many trials in flight per process: limits, attribution, fixtures, early stops, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from e2e_support import XDIST, query, read_calls, start_pytest, store_exists, trial_rows

# Each condition call counts the calls in flight in its process; a trial records how many
# were in flight when its own call started (itself included).
CONCURRENT = """
import asyncio, logging, os, threading, time
import pytest
import pytest_crucible as crucible

CALLS = os.environ.get("CRUCIBLE_CALLS", "calls.log")
_lock = threading.Lock()
_in_flight = [0]

def _enter(name, text):
    with open(CALLS, "a") as f:
        f.write(f"{name} {text}\\n")
    with _lock:
        _in_flight[0] += 1
        return _in_flight[0]

def _pause(text):
    slow_from = int(os.environ.get("CRUCIBLE_SLOW_FROM", "1000"))
    if int(text[1:]) >= slow_from:
        return 30.0
    return float(os.environ.get("CRUCIBLE_SLEEP", "0.05"))

def _leave():
    with _lock:
        _in_flight[0] -= 1

async def fast(text):
    seen = _enter("fast", text)
    try:
        await asyncio.sleep(_pause(text))
        logging.getLogger("demo").warning("answer for %s", text)
        print(f"printed for {text}")
        if text in os.environ.get("CRUCIBLE_FAIL", "").split(","):
            raise RuntimeError(f"no answer for {text}")
        return seen
    finally:
        _leave()

def slow(text):
    seen = _enter("slow", text)
    try:
        time.sleep(_pause(text))
        logging.getLogger("demo").warning("answer for %s", text)
        return seen
    finally:
        _leave()

demo = crucible.Experiment(
    name="demo",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(12)],
    conditions={"fast": fast, "slow": slow},
    metrics=["in_flight"],
    repeat=2,
    seed=1,
    concurrency=4,
)

@pytest.fixture(scope="session")
def shared():
    return "shared"

@demo.trial
FUNCTION_DEF
"""

ASYNC_TRIAL = """async def test_demo(condition, item, trial, shared):
    trial.record(in_flight=await condition(item.input))
"""
SYNC_TRIAL = """def test_demo(condition, item, trial, shared):
    trial.record(in_flight=condition(item.input))
"""
# With CRUCIBLE_HOLD=1, trials 7-12 (fast i3-i5: the group of the failing trials under -n 2)
# wait until the run asks them to stop (-x): at most the 4 slots of them begin before it,
# the others never begin. The wait is bounded, so that a stop that never comes fails.
HELD_TRIAL = """async def test_demo(condition, item, trial, shared):
    held = trial.spec.condition == "fast" and item.id in ("i3", "i4", "i5")
    if held and os.environ.get("CRUCIBLE_HOLD") == "1":
        for _ in range(3000):
            if trial.cancelled:
                break
            await asyncio.sleep(0.02)
    trial.record(in_flight=await condition(item.input))
"""
FUNCTION_FIXTURE_TRIAL = """async def test_demo(condition, item, trial, tmp_path):
    trial.record(in_flight=await condition(item.input))
"""


def write(pytester: pytest.Pytester, function: str) -> None:
    pytester.makepyfile(test_demo=CONCURRENT.replace("FUNCTION_DEF", function))


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("function", [ASYNC_TRIAL, SYNC_TRIAL], ids=["async", "sync"])
def test_trials_run_concurrently_up_to_the_limit(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str], function: str
) -> None:
    write(pytester, function)
    result = pytester.runpytest("--crucible", "--crucible-report=none", "-v", *xdist)
    result.assert_outcomes(passed=48)
    rows = trial_rows(pytester)
    assert len(rows) == 48 and all(row["status"] == "passed" for row in rows)
    peaks = [row["metrics"]["in_flight"] for row in rows]
    assert max(peaks) <= 4, peaks  # the limit holds in every process
    assert max(peaks) >= 2, peaks  # and trials did overlap
    assert len(read_calls(calls_file)) == 48  # each trial ran once
    # one report per trial, under its own id
    lines = [line for line in result.outlines if "test_demo[fast-i0-r0]" in line]
    assert any("PASSED" in line for line in lines), lines


@pytest.mark.parametrize("xdist", XDIST)
def test_log_records_belong_to_the_trial_that_made_them(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str]
) -> None:
    write(pytester, ASYNC_TRIAL)
    pytester.runpytest("--crucible", "--crucible-report=none", *xdist).assert_outcomes(passed=48)
    logs = query(pytester, "SELECT item_id, message FROM logs")
    assert len(logs) == 48
    for row in logs:
        assert row["message"] == f"answer for {row['item_id']}", row


def test_a_failing_trials_report_shows_its_own_log_and_output_only(
    pytester: pytest.Pytester, calls_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing trial's captured log shows its own record, not those of trials that ran
    alongside it."""
    write(pytester, ASYNC_TRIAL)
    monkeypatch.setenv("CRUCIBLE_FAIL", "i5")
    result = pytester.runpytest("--crucible", "--crucible-report=none")
    result.assert_outcomes(passed=46, failed=2)
    captured = result.stdout.str().split("Captured log call")[1:]
    assert captured, result.stdout.str()
    for section in captured:
        lines = [line for line in section.splitlines()[:4] if "answer for" in line]
        assert all("answer for i5" in line for line in lines), section
    printed = result.stdout.str().split("Captured stdout call")[1:]
    assert len(printed) == 2, result.stdout.str()
    for section in printed:
        lines = [line for line in section.splitlines()[:4] if "printed for" in line]
        assert lines == ["printed for i5"], section


def test_function_scoped_fixtures_make_trials_run_one_at_a_time(
    pytester: pytest.Pytester, calls_file: Path
) -> None:
    write(pytester, FUNCTION_FIXTURE_TRIAL)
    result = pytester.runpytest("--crucible", "--crucible-report=none")
    result.assert_outcomes(passed=48)
    assert max(row["metrics"]["in_flight"] for row in trial_rows(pytester)) == 1
    result.stdout.fnmatch_lines(["*function-scoped fixture(s)*tmp_path*one at a time*"])


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("stop", ["-x", "--maxfail=2"])
def test_exitfirst_stops_starting_trials_and_keeps_what_finished(
    pytester: pytest.Pytester,
    calls_file: Path,
    xdist: list[str],
    stop: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(pytester, HELD_TRIAL)
    # fast-i0-r0 and fast-i1-r0 fail, the first and third trials: both in the first xdist group
    monkeypatch.setenv("CRUCIBLE_FAIL", "i0,i1")
    # the same group's last six trials wait for the stop: some never run, however fast the
    # others are (without it, a busy machine could run all 48 before the stop arrived)
    monkeypatch.setenv("CRUCIBLE_HOLD", "1")
    result = pytester.runpytest("--crucible", "--crucible-report=none", stop, *xdist)
    # xdist reports -x as an interruption (exit 2), as it does without crucible
    expected = pytest.ExitCode.INTERRUPTED if xdist else pytest.ExitCode.TESTS_FAILED
    assert result.ret == expected
    stored = trial_rows(pytester)
    assert 0 < len(stored) < 48
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "interrupted"
    calls = read_calls(calls_file)
    assert len(calls) == len(stored), "every trial that called its condition was stored"

    monkeypatch.delenv("CRUCIBLE_FAIL")
    monkeypatch.delenv("CRUCIBLE_HOLD")
    resumed = pytester.runpytest("--crucible", "--crucible-report=none", "--crucible-resume")
    assert resumed.ret == pytest.ExitCode.OK
    assert len(trial_rows(pytester)) == 48
    passed_before = sum(row["status"] == "passed" for row in stored)
    assert len(read_calls(calls_file)) == len(calls) + 48 - passed_before


def _wait_for_trials(pytester: pytest.Pytester, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if store_exists(pytester):
            try:
                if query(pytester, "SELECT count(*) AS n FROM trials")[0]["n"] >= count:
                    return
            except (sqlite3.OperationalError, psycopg.Error):  # not created yet
                pass
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} trials stored after {timeout} s")


def _start(pytester: pytest.Pytester, *args: str, slow_from: int = 1000) -> subprocess.Popen[bytes]:
    env = {"CRUCIBLE_SLEEP": "0.5", "CRUCIBLE_SLOW_FROM": str(slow_from)}
    return start_pytest(pytester.path, *args, env=env)


@pytest.mark.parametrize("xdist", XDIST)
def test_ctrl_c_stores_what_finished_and_the_run_resumes(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str], store_backend: str
) -> None:
    write(pytester, ASYNC_TRIAL)
    process = _start(pytester, *xdist)
    try:
        _wait_for_trials(pytester, 4, timeout=60)
        os.killpg(process.pid, signal.SIGINT)
        started = time.monotonic()
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    # trials of 0.5 s and a grace of 10 s: far below 60 s on a busy machine, unless it hangs
    assert time.monotonic() - started < 60, "stopping took too long"
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output.decode()[-2000:]
    stored = trial_rows(pytester)
    assert 4 <= len(stored) < 48
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "interrupted"

    resumed = pytester.runpytest("--crucible", "--crucible-report=none", "--crucible-resume")
    assert resumed.ret == pytest.ExitCode.OK
    rows = trial_rows(pytester)
    assert len(rows) == 48 and all(row["status"] == "passed" for row in rows)


def test_a_second_ctrl_c_stops_at_once(pytester: pytest.Pytester, calls_file: Path) -> None:
    """Items i0 and i1 answer at once, the rest take 30 s: the first Ctrl-C waits for the
    running trials (up to the grace period of 10 s), the second ends the wait. The second is
    sent once the run says it waits (on a busy machine pytest may still be formatting the
    first interrupt a second later, and a Ctrl-C then would not reach the wait)."""
    write(pytester, ASYNC_TRIAL)
    process = _start(pytester, slow_from=2)
    lines: list[bytes] = []
    arrived: list[float] = []  # when each line arrived
    waiting = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            arrived.append(time.monotonic())
            lines.append(line)
            if b"crucible: waiting up to" in line:
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        _wait_for_trials(pytester, 4, timeout=60)
        os.killpg(process.pid, signal.SIGINT)
        assert waiting.wait(timeout=60), b"".join(lines).decode()[-2000:]
        assert process.poll() is None, "the first Ctrl-C waits for the running trials"
        os.killpg(process.pid, signal.SIGINT)
        started = time.monotonic()
        process.wait(timeout=60)
        reader.join(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = b"".join(lines).decode()[-2000:]
    # without the second Ctrl-C the wait would last its 10 s: the first line after the second
    # Ctrl-C (pytest's interrupt report) comes before that; the session end after it (the
    # analysis child's start-up) is not part of the wait
    after = [moment for moment in arrived if moment >= started]
    assert after and after[0] - started < 8, output
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "interrupted"
    assert len(trial_rows(pytester)) == 4


def test_sigterm_stops_the_session_as_ctrl_c_does(
    pytester: pytest.Pytester, calls_file: Path
) -> None:
    """A scheduler or `crucible serve` sends SIGTERM: the run is marked interrupted (not left
    "running" by a killed process), what finished is stored, and it resumes."""
    write(pytester, ASYNC_TRIAL)
    process = _start(pytester, slow_from=2)  # items from i2 on take 30 s
    try:
        _wait_for_trials(pytester, 4, timeout=60)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output.decode()[-2000:]
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "interrupted"
    assert len(trial_rows(pytester)) == 4


# A trial started ahead prints exactly while pytest is between two phases of another item
# (after i0's call phase, while its report is logged), forced with events rather than luck:
# i0's trial ends only once i2's is waiting; the hook that logs i0's call report lets i2
# print and waits until it has. (With 16 items, i0 to i3 are one xdist group under -n 2,
# so i0 and i2 run in one process.)
BETWEEN_PHASES = """
import asyncio, sys, threading
import pytest_crucible as crucible

EVENTS = {name: threading.Event() for name in ("waiting", "print_now", "printed")}

def echo(text):
    return text

route = crucible.Experiment(
    name="route",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(16)],
    conditions={"echo": echo},
    repeat=1,
    concurrency=4,
)

def _print():
    print("printed by i2")
    print("complained by i2", file=sys.stderr)
    EVENTS["printed"].set()

@route.trial
FUNCTION_DEF
"""
BETWEEN_ASYNC = """async def test_route(condition, item, trial):
    if item.id == "i0":
        await asyncio.to_thread(EVENTS["waiting"].wait, 120)
    if item.id == "i2":
        EVENTS["waiting"].set()
        await asyncio.to_thread(EVENTS["print_now"].wait, 120)
        _print()
    trial.record(ok=await condition(item.input) == item.input)
"""
BETWEEN_SYNC = """def test_route(condition, item, trial):
    if item.id == "i0":
        EVENTS["waiting"].wait(120)
    if item.id == "i2":
        EVENTS["waiting"].set()
        EVENTS["print_now"].wait(120)
        _print()
    trial.record(ok=condition(item.input) == item.input)
"""
BETWEEN_CONFTEST = """
import json, sys

CONTROLLER = []

def pytest_configure(config):
    CONTROLLER.append(not hasattr(config, "workerinput"))

def pytest_runtest_logreport(report):
    if CONTROLLER[-1]:
        with open("sections.jsonl", "a") as f:
            f.write(json.dumps([report.nodeid, report.when, report.sections]) + "\\n")
    events = getattr(sys.modules.get("test_route"), "EVENTS", None)
    if events is not None and report.when == "call" and "-i0-" in report.nodeid:
        events["print_now"].set()
        events["printed"].wait(120)
"""


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("function", [BETWEEN_ASYNC, BETWEEN_SYNC], ids=["async", "sync"])
def test_output_printed_between_phases_goes_to_its_own_trial(
    pytester: pytest.Pytester, xdist: list[str], function: str
) -> None:
    pytester.makepyfile(test_route=BETWEEN_PHASES.replace("FUNCTION_DEF", function))
    pytester.makeconftest(BETWEEN_CONFTEST)
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    result.assert_outcomes(passed=16)
    assert "by i2" not in result.stdout.str() + result.stderr.str()  # not on the terminal
    found: dict[str, list[tuple[str, str]]] = {}
    for line in (pytester.path / "sections.jsonl").read_text().splitlines():
        nodeid, when, sections = json.loads(line)
        for title, text in sections:  # a report repeats the sections of earlier phases
            if "by i2" in text and title.endswith(when):
                found.setdefault(nodeid.split("[")[1], []).append((title, text))
    assert found == {
        "echo-i2-r0]": [
            ("Captured stdout call", "printed by i2\n"),
            ("Captured stderr call", "complained by i2\n"),
        ]
    }, found
