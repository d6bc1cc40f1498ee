"""Two sessions never continue one run at the same time (issue 14, point 6).

Two `--crucible-resume` of one run once ran the missing trials twice, with no warning. Here
a first session holds the run and waits inside a condition for a file the test creates; a
second session started meanwhile must refuse, naming the holder's host and pid, and run
nothing.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e_support import XDIST, query, store_path

_TIMEOUT_S = 180  # a whole pytest run, on 2 shared cores that may run 3x slower

# Every call appends "item pid" to CALLS. With GATE set, a call (of an item other than
# i0 when WAIT_FROM_I1 is set) first leaves a marker file, then waits for GATE to appear.
# With FAIL_BUT_I0 set, every item but i0 fails (a run that a resume has work to do in).
HELD = """
import os, time
from pathlib import Path
import pytest_crucible as crucible

def answer(text):
    with open(os.environ["CALLS"], "a") as calls:
        calls.write(f"{text} {os.getpid()}\\n")
    gate = os.environ.get("GATE")
    if gate and not (os.environ.get("WAIT_FROM_I1") and text == "i0"):
        Path(f"{gate}.started-{text}").touch()
        deadline = time.monotonic() + 150
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.02)
    if os.environ.get("FAIL_BUT_I0") and text != "i0":
        raise RuntimeError("failed on purpose")
    return text

held = crucible.Experiment(
    name="held",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(6)],
    conditions={"answer": answer},
    metrics=["ok"],
    seed=5,
)

@held.trial
def test_held(condition, item, trial):
    trial.record(ok=condition(item.input) == item.input)
"""


def _environment(pytester: pytest.Pytester, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CALLS": str(pytester.path / "calls.log"), **extra}
    env.pop("PYTEST_ADDOPTS", None)
    for name in ("GATE", "WAIT_FROM_I1", "FAIL_BUT_I0"):
        if name not in extra:
            env.pop(name, None)
    return env


def _run(pytester: pytest.Pytester, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "--crucible", "--crucible-report=none", *args]
    return subprocess.run(
        command,
        cwd=pytester.path,
        env=_environment(pytester, **extra),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
    )


def _start(pytester: pytest.Pytester, *args: str, **extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pytest", "--crucible", "--crucible-report=none", *args]
    return subprocess.Popen(
        command,
        cwd=pytester.path,
        env=_environment(pytester, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for(marker: str, process: subprocess.Popen[str]) -> None:
    """Until the file `marker` exists (the first session has started that trial)."""
    deadline = time.monotonic() + _TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the first session ended early:\n{process.communicate()[0]}")
        if Path(marker).exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"{marker} did not appear within {_TIMEOUT_S} s")


def _holders(db: Path) -> list[tuple[str, int]]:
    try:
        with sqlite3.connect(db) as conn:
            return list(conn.execute("SELECT host, pid FROM run_holders"))
    except sqlite3.OperationalError:  # not created yet
        return []


def _calls(pytester: pytest.Pytester) -> list[str]:
    return (pytester.path / "calls.log").read_text().splitlines()


def _assert_refused(second: subprocess.CompletedProcess[str], first: subprocess.Popen[str]) -> None:
    output = second.stdout + second.stderr
    assert second.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert f"pid {first.pid} on host {socket.gethostname()}" in output, output
    assert "is held by another session that is still running" in output
    assert "Traceback" not in output and "INTERNALERROR" not in output


def _finish(first: subprocess.Popen[str], gate: Path) -> str:
    gate.touch()
    try:
        output, _ = first.communicate(timeout=_TIMEOUT_S)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == pytest.ExitCode.OK, output
    return output


@pytest.mark.parametrize("xdist", XDIST)
def test_a_second_resume_of_a_held_run_is_refused(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_held=HELD)
    failed = _run(pytester, FAIL_BUT_I0="1")
    assert failed.returncode == pytest.ExitCode.TESTS_FAILED, failed.stdout
    gate = pytester.path / "gate"
    first = _start(pytester, "--crucible-resume", *xdist, GATE=str(gate))
    try:
        _wait_for(f"{gate}.started-i1", first)  # the resume holds its run and runs trials
        second = _run(pytester, "--crucible-resume")
        _assert_refused(second, first)
    finally:
        output = _finish(first, gate)
    assert "5 passed" in output
    resumed = [line.split()[0] for line in _calls(pytester)[6:]]
    assert sorted(resumed) == ["i1", "i2", "i3", "i4", "i5"], "a trial ran twice or not at all"
    rows = query(pytester, "SELECT status FROM trials")
    assert [row["status"] for row in rows] == ["passed"] * 6
    assert _holders(store_path(pytester)) == [], "the run was not released at the end"


def test_a_resume_of_a_run_a_fresh_session_is_writing_is_refused(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_held=HELD)
    gate = pytester.path / "gate"
    first = _start(pytester, GATE=str(gate), WAIT_FROM_I1="1")
    try:
        # i0 is stored and its run created (and held) before i1 starts: one process
        _wait_for(f"{gate}.started-i1", first)
        second = _run(pytester, "--crucible-resume")
        _assert_refused(second, first)
    finally:
        _finish(first, gate)
    items = sorted(line.split()[0] for line in _calls(pytester))
    assert items == ["i0", "i1", "i2", "i3", "i4", "i5"], "a trial ran twice"
    assert len(query(pytester, "SELECT * FROM runs")) == 1
