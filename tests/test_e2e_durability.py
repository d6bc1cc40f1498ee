"""Finished trials are never lost, and a full disk ends the run (issue 14, points 1, 4, 5).

A full disk is simulated with RLIMIT_FSIZE (SIGXFSZ ignored): every file the run writes
(store, WAL, journals) is refused past 2 MiB with EFBIG, through real SQLite and real file
writes, without root or a mount. Kills are SIGKILLs of the whole process group once the
calls file shows the trials finished; resume then counts condition calls.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e_support import (
    EXPERIMENT,
    XDIST,
    durable_trials,
    journals_folder,
    query,
    read_calls,
    trial_rows,
)
from pytest_crucible.store.sqlite import Store

# Each call first waits (10 s at most) until the store holds the trials this process ran
# before it: otherwise 80 quick trials could all finish before the writer thread meets the
# full disk, and nothing would be left to stop. Once the store refuses, the wait runs out
# once, and the next result recorded stops the session.
BIG_OUTPUTS = """
import os, sqlite3, time
import pytest_crucible as crucible

_ran = [0]

def _stored():
    try:
        with sqlite3.connect(".crucible/crucible.db", timeout=10) as conn:
            return conn.execute("SELECT count(*) FROM trials").fetchone()[0]
    except sqlite3.Error:
        return 0

def big(text):
    deadline = time.monotonic() + 10
    while _stored() < _ran[0] and time.monotonic() < deadline:
        time.sleep(0.02)
    _ran[0] += 1
    with open(os.environ["CRUCIBLE_CALLS"], "a") as f:
        f.write(f"call {text}\\n")
    return text * 50_000          # 50 KB per output: 80 of them need 4 MB

exp = crucible.Experiment(
    name="big",
    dataset=[{"id": f"i{n}", "input": chr(97 + n % 26)} for n in range(80)],
    conditions={"big": big},
    metrics=["size"],
)

@exp.trial
def test_big(condition, item, trial):
    trial.record(size=len(condition(item.input)))
"""

_FILE_LIMIT = 2 * 1024 * 1024


def _disk_of_2_mib() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_LIMIT, _FILE_LIMIT))


def _pytest(
    pytester: pytest.Pytester, *args: str, preexec: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--crucible", "-p", "no:cacheprovider", *args],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=preexec,
    )


def _finish(process: subprocess.Popen[str], timeout: float) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"the run hung:\n{output[-3000:]}") from None
    return output


@pytest.mark.parametrize("xdist", XDIST)
def test_a_full_disk_stops_the_run_says_so_and_the_run_resumes(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str]
) -> None:
    pytester.makepyfile(test_big=BIG_OUTPUTS)
    process = _pytest(pytester, "--crucible-report=none", *xdist, preexec=_disk_of_2_mib)
    output = _finish(process, timeout=240)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "the disk is full" in output and "No new trials are started" in output, output
    assert "--crucible-resume=" in output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    stored = {row["item_id"] for row in trial_rows(pytester)}
    assert 0 < len(stored) < 80
    calls = read_calls(calls_file)
    assert len(calls) < 80, "trials kept starting on a full disk"

    # space is back: the run resumes, and what was stored is not run again
    resumed = _pytest(pytester, "--crucible-report=none", "--crucible-resume", *xdist)
    output = _finish(resumed, timeout=240)
    assert resumed.returncode == pytest.ExitCode.OK, output[-3000:]
    rows = trial_rows(pytester)
    assert len(rows) == 80 and all(row["status"] == "passed" for row in rows)
    assert len(read_calls(calls_file)) - len(calls) <= 80 - len(stored)
    assert [r["status"] for r in query(pytester, "SELECT status FROM runs")] == ["completed"]


# The first condition call of each process hangs (until the kill): the trials started ahead
# behind it finish, but their items cannot report them.
HELD_BACK = """
import asyncio, os
import pytest_crucible as crucible

CALLS = os.environ["CRUCIBLE_CALLS"]
_first = [os.environ.get("HANG") == "1"]

def _note(line):
    with open(CALLS, "a") as f:
        f.write(line + "\\n")

async def answer(text):
    _note(f"call {text}")
    if _first[0]:
        _first[0] = False
        _note(f"hang {text}")
        await asyncio.sleep(600)
    await asyncio.sleep(0)
    _note(f"done {text}")
    return text

exp = crucible.Experiment(
    name="held",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(120)],
    conditions={"answer": answer},
    metrics=["ok"],
    seed=5,
)

@exp.trial
async def test_held(condition, item, trial):
    trial.record(ok=(await condition(item.input)) == item.input)
"""


def _lines(calls_file: Path, kind: str) -> set[str]:
    return {line.split()[1] for line in read_calls(calls_file) if line.startswith(kind)}


def _durable_items(pytester: pytest.Pytester) -> set[str]:
    return {item_id for _, item_id, _ in durable_trials(pytester)}


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("xdist", "concurrency", "processes", "edited"),
    [
        pytest.param([], "16", 1, False, id="n0-c16"),
        pytest.param(["-n", "2"], "8", 2, False, id="n2-c8"),
        # the condition edited before the resume: its journalled trials are not reused
        pytest.param([], "16", 1, True, id="n0-c16-edited"),
    ],
)
def test_trials_finished_ahead_of_their_items_survive_a_kill(
    pytester: pytest.Pytester,
    calls_file: Path,
    xdist: list[str],
    concurrency: str,
    processes: int,
    edited: bool,
    monkeypatch: pytest.MonkeyPatch,
    store_backend: str,
) -> None:
    pytester.makepyfile(test_held=HELD_BACK)
    monkeypatch.setenv("HANG", "1")
    process = _pytest(pytester, f"--crucible-concurrency={concurrency}", *xdist)
    monkeypatch.delenv("HANG")
    # each process starts twice its concurrency ahead of the hanging trial; all but the
    # hanging one finish, then nothing more happens until the kill
    ahead = 2 * int(concurrency) * processes
    try:
        _wait_until(lambda: len(_lines(calls_file, "hang")) == processes, "the hanging trials")
        _wait_until(lambda: len(_lines(calls_file, "done")) >= ahead, f"{ahead} finished trials")
        finished = _lines(calls_file, "done")
        # durable while their items wait (within ~100 ms): stored, or in a journal
        _wait_until(lambda: _durable_items(pytester) >= finished, "them to be kept on disk", 30)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    calls_before = len(read_calls(calls_file))

    result = pytester.runpytest(
        "--crucible", "--crucible-resume", f"--crucible-concurrency={concurrency}", *xdist
    )
    result.assert_outcomes(passed=120 - len(finished))
    result.stdout.fnmatch_lines([f"*imported {len(finished)} finished trial(s)*"])
    rerun = [
        line.split()[1] for line in read_calls(calls_file)[calls_before:] if line.startswith("call")
    ]
    assert not set(rerun) & finished, "a trial that had finished ran again"
    assert len(rerun) == 120 - len(finished)
    rows = trial_rows(pytester)
    assert len(rows) == 120 and all(row["status"] == "passed" for row in rows)
    assert not journals_folder(pytester).exists()


def _read_only(store: Path) -> Callable[[], None]:
    """Make the store file read-only; returns what makes it writable again. Root may write
    to any file whatever its mode: as root the file is made immutable (chattr +i)."""
    if os.geteuid() != 0:
        store.chmod(0o444)
        return lambda: store.chmod(0o644)
    subprocess.run(["chattr", "+i", str(store)], check=True, capture_output=True)
    return lambda: subprocess.run(["chattr", "-i", str(store)], check=True)


@pytest.mark.parametrize(
    ("importer", "xdist"),
    [
        pytest.param("crucible import", [], id="import-n0"),
        pytest.param("resume", [], id="resume-n0"),
        pytest.param("resume", ["-n", "2"], id="resume-n2", marks=pytest.mark.slow),
    ],
)
def test_results_a_read_only_store_refuses_are_journalled_and_imported_once(
    tmp_path: Path, importer: str, xdist: list[str]
) -> None:
    store = tmp_path / ".crucible" / "crucible.db"
    Store(store).close()  # an empty store, then read-only: the run cannot even be created
    writable = _read_only(store)
    try:
        _refused_then_imported(tmp_path, writable, importer, xdist)
    finally:
        writable()


def _refused_then_imported(
    project: Path, writable: Callable[[], None], importer: str, xdist: list[str]
) -> None:
    (project / "test_demo.py").write_text(EXPERIMENT)
    store = project / ".crucible" / "crucible.db"
    calls = project / "calls.log"
    env = {**os.environ, "CRUCIBLE_CALLS": str(calls), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "--crucible", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [*command, "--crucible-report=none", *xdist],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "attempt to write a readonly database" in output, output[-3000:]
    assert "finished trials are not in the store yet" in output and "import" in output
    assert "crucible.db.journals" in output and "Traceback" not in output, output[-3000:]
    assert len(read_calls(calls)) == 12
    writable()

    if importer == "crucible import":
        crucible = [sys.executable, "-m", "pytest_crucible.cli", "--store", str(store), "import"]
        first = subprocess.run(crucible, capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert "imported 12 finished trial(s)" in first.stdout, first.stdout
        again = subprocess.run(crucible, capture_output=True, text=True, timeout=120)
        assert "no finished trial waited in a journal" in again.stdout, again.stdout
    resumed = subprocess.run(
        [*command, "--crucible-report=none", "--crucible-resume", *xdist],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert resumed.returncode == pytest.ExitCode.OK, resumed.stdout[-3000:]
    if importer == "resume":
        assert "imported 12 finished trial(s)" in resumed.stdout, resumed.stdout[-3000:]
    assert "12 reused from the resumed run" in resumed.stdout, resumed.stdout[-3000:]
    assert len(read_calls(calls)) == 12, "a rescued trial ran again"
    with sqlite3.connect(store) as conn:
        assert conn.execute("SELECT count(*), sum(status = 'passed') FROM trials").fetchone() == (
            12,
            12,
        )
        assert conn.execute("SELECT status FROM runs").fetchall() == [("completed",)]
