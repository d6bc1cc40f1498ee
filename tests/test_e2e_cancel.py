"""Cancelling a run from outside its session (issue 18, point 2): `crucible cancel RUN_ID`
stores a request, the session polls for it and stops gracefully.

The trials of the experiment below note their start in a file and, from the fourth item
on, wait for a gate file the test creates: the test cancels while trials are in flight,
waits for the session to say it saw the request, opens the gate, and then checks that no
trial started after the request, that every trial that started is stored, that the run is
marked cancelled, and that --crucible-resume completes it (running each trial once).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from e2e_support import XDIST, query, start_pytest, store_exists

_TIMEOUT_S = 180  # generous: the machine may be busy (pytest, xdist workers, the analysis)
_ITEMS = 24

EXPERIMENT = """
import asyncio, os, pathlib
import pytest_crucible as crucible

GATE = pathlib.Path(os.environ["CANCEL_GATE"])
STARTS = os.environ["CANCEL_STARTS"]

async def answer(text):
    with open(STARTS, "a") as f:
        f.write(text + "\\n")
    if int(text[1:]) >= 3:  # i0-i2 answer at once: the run exists before the cancel
        while not GATE.exists():
            await asyncio.sleep(0.02)
    return text

cancel_me = crucible.Experiment(
    name="cancel-me",
    dataset=[{"id": f"i{n}", "input": f"i{n}", "expected": f"i{n}"} for n in range(ITEMS)],
    conditions={"only": answer},
    metrics={"correct": crucible.Metric(kind="binary")},
    concurrency=4,
    seed=1,
)

@cancel_me.trial
async def test_cancel_me(condition, item, trial):
    answer = await condition(item.input)
    trial.record(correct=answer == item.expected)
""".replace("ITEMS", str(_ITEMS))


class Output:
    """A process's output lines, read on a thread; `wait_for` a line containing a text."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.lines: list[str] = []
        self._arrived = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._arrived:
                self.lines.append(line.decode(errors="replace"))
                self._arrived.notify_all()

    def wait_for(self, text: str, timeout: float) -> None:
        with self._arrived:
            found = self._arrived.wait_for(
                lambda: any(text in line for line in self.lines), timeout
            )
        assert found, f"no line with {text!r} in:\n{self.text[-3000:]}"

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def close(self) -> None:
        self._reader.join(timeout=_TIMEOUT_S)


def _crucible(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`crucible ARGS` in `folder` (the store: CRUCIBLE_STORE when set, else the project's)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest_crucible.cli", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
    )


def _starts(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + _TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if callable(condition) and condition():
                return
        except (sqlite3.OperationalError, psycopg.Error):  # the tables are not made yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def _stored_items(pytester: pytest.Pytester) -> list[str]:
    return sorted(row["item_id"] for row in query(pytester, "SELECT item_id FROM trials"))


@pytest.mark.parametrize("xdist", XDIST)
def test_a_run_cancelled_from_outside_stops_gracefully_and_resumes(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
    store_backend: str,
) -> None:
    pytester.makepyfile(test_cancel_me=EXPERIMENT)
    gate, starts = pytester.path / "gate", pytester.path / "starts.log"
    monkeypatch.setenv("CANCEL_GATE", str(gate))
    monkeypatch.setenv("CANCEL_STARTS", str(starts))
    process = start_pytest(pytester.path, "-p", "no:cacheprovider", *xdist)
    output = Output(process)
    try:
        # three trials stored (the run exists) and at least two waiting at the gate
        _wait_until(
            lambda: (
                store_exists(pytester)
                and len(_stored_items(pytester)) >= 3
                and len(_starts(starts)) >= 5
            ),
            "trials are stored and others are in flight",
        )
        (run,) = query(pytester, "SELECT run_id, status FROM runs")
        assert run["status"] == "running"
        cancel = _crucible(pytester.path, "cancel", run["run_id"], "--reason", "enough, said Ada")
        assert cancel.returncode == 0, cancel.stderr
        assert f"cancel requested for run {run['run_id']} of cancel-me" in cancel.stdout
        output.wait_for("cancel requested (enough, said Ada)", _TIMEOUT_S)
        started = _starts(starts)
        gate.touch()  # the trials in flight finish now
        process.wait(timeout=_TIMEOUT_S)
        output.close()
    finally:
        if process.poll() is None:
            process.kill()
    text = output.text
    assert process.returncode == pytest.ExitCode.INTERRUPTED, text[-3000:]
    assert _starts(starts) == started, "a trial started after the session saw the request"
    assert _stored_items(pytester) == sorted(started), "a trial that started is not stored"
    assert len(started) < _ITEMS
    (run,) = query(pytester, "SELECT run_id, status FROM runs")
    assert run["status"] == "cancelled"
    assert f"run {run['run_id']} of cancel-me was cancelled (enough, said Ada)" in text
    assert f"--crucible-resume={run['run_id']}" in text
    assert "Traceback" not in text and "pytest_crucible/" not in text, text[-3000:]

    resumed = pytester.runpytest(
        "--crucible",
        "--crucible-report=none",
        "-p",
        "no:cacheprovider",
        f"--crucible-resume={run['run_id']}",
        *xdist,
    )
    assert resumed.ret == pytest.ExitCode.OK, resumed.stdout.str()[-3000:]
    (run,) = query(pytester, "SELECT run_id, status FROM runs")
    assert run["status"] == "completed"
    assert _stored_items(pytester) == sorted(f"i{n}" for n in range(_ITEMS))
    assert sorted(_starts(starts)) == sorted(f"i{n}" for n in range(_ITEMS))  # each ran once
    assert query(pytester, "SELECT * FROM run_cancels") == []  # the request was cleared

    again = _crucible(pytester.path, "cancel", run["run_id"])
    assert again.returncode == 2
    assert f"run {run['run_id']} of cancel-me is completed" in again.stderr, again.stderr
    assert "Traceback" not in again.stderr


def test_cancel_names_what_is_wrong_with_its_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that does not exist, or an unknown run, is a one-line error (exit 2)."""
    monkeypatch.delenv("CRUCIBLE_STORE", raising=False)
    missing = _crucible(pytester.path, "--store", "nowhere.db", "cancel", "abc")
    assert missing.returncode == 2 and "store nowhere.db does not exist" in missing.stderr
    pytester.makepyfile(test_cancel_me=EXPERIMENT)
    (pytester.path / "gate").touch()
    monkeypatch.setenv("CANCEL_GATE", str(pytester.path / "gate"))
    monkeypatch.setenv("CANCEL_STARTS", os.devnull)
    assert pytester.runpytest("--crucible", "--crucible-report=none").ret == 0
    unknown = _crucible(pytester.path, "cancel", "zzzz")
    assert unknown.returncode == 2, unknown.stderr
    assert "has no run 'zzzz'" in unknown.stderr and "Traceback" not in unknown.stderr
