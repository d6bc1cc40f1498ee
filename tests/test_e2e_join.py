"""One run over many processes (`--crucible-join=KEY`, issue 17): real pytest processes on one
store, each trial claimed by one of them; the two-process and kill -9 tests run on a SQLite
store and on a PostgreSQL database (a real server: tests/postgres_server.py).

The experiment notes every trial it finishes in a calls file ("PID done TRIAL"), so the tests
count executions; a process given TEST_JOIN_HANG_AFTER=N hangs in its trial N + 1 ("PID hang
TRIAL"), holding its claims, until the test kills it with SIGKILL.
"""

from __future__ import annotations

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_crucible.store import open_store

EXPERIMENT = """
import os, threading, time
import pytest_crucible as crucible

CALLS = os.environ["TEST_JOIN_CALLS"]
HANG_AFTER = int(os.environ.get("TEST_JOIN_HANG_AFTER", "0"))
GATE = os.environ.get("TEST_JOIN_GATE")  # a file: trials start once it exists
_finished = []

def _note(kind, name):
    with open(CALLS, "a") as f:
        f.write(f"{os.getpid()} {kind} {name}\\n")

def plain(text):
    time.sleep(0.01)
    return text.upper()

def sloppy(text):
    time.sleep(0.01)
    return text.upper() if int(text[1:]) % 3 else text

demo = crucible.Experiment(
    name="demo",
    dataset=[{"id": f"i{n}", "input": f"w{n}", "expected": f"W{n}"} for n in range(ITEMS)],
    conditions={"plain": plain, "sloppy": sloppy},
    baseline="plain",
    metrics={"correct": crucible.Metric(kind="binary"), "length": crucible.Metric()},
    repeat=2,
    seed=11,
)

@demo.trial
def test_demo(condition, item, trial):
    name = trial.spec.test_id
    while GATE and not os.path.exists(GATE):
        _note("wait", name)
        time.sleep(0.05)
    if HANG_AFTER and len(_finished) >= HANG_AFTER:
        _note("hang", name)
        threading.Event().wait()  # until the test kills this process
    if name == os.environ.get("TEST_JOIN_FAIL"):
        raise AssertionError("this trial fails on purpose")
    answer = condition(item.input)
    trial.log("info", "ran", pid=os.getpid())
    trial.record(correct=answer == item.expected, length=len(answer) + int(item.id[1:]))
    _finished.append(name)
    _note("done", name)
"""

TIMEOUT_S = 240  # generous: the machine is shared and three times slower when busy


def _project(folder: Path, items: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_join_demo.py").write_text(EXPERIMENT.replace("ITEMS", str(items)))
    (folder / "conftest.py").write_text("")
    return folder


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_process_left() -> Iterator[None]:
    """A test that fails midway leaves no pytest process behind (a hung victim, a waiter)."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The location of the joined processes' store: the project's SQLite file, or a fresh
    PostgreSQL database (its URL, with the password)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return _default_store(tmp_path / "joined")


def _default_store(folder: Path) -> str:
    return str(folder / ".crucible" / "crucible.db")


def _start(
    folder: Path, *args: str, env: dict[str, str] | None = None, store: str | None = None
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pytest", "--crucible", "-p", "no:cacheprovider", *args]
    process = subprocess.Popen(
        command,
        cwd=folder,
        env={
            **os.environ,
            "TEST_JOIN_CALLS": str(folder / "calls.log"),
            "CRUCIBLE_STORE": store or _default_store(folder),
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _STARTED.append(process)
    return process


def _finish(process: subprocess.Popen[str]) -> str:
    try:
        output, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"a process did not end in {TIMEOUT_S} s:\n{output}") from None
    return output


def _calls(folder: Path) -> list[tuple[int, str, str]]:
    path = folder / "calls.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(int(pid), kind, name) for pid, kind, name in (line.split() for line in lines)]


def _rows(folder: Path, statement: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(folder / ".crucible" / "crucible.db")
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(statement).fetchall()
    finally:
        conn.close()


def _wait_for(what: str, condition: Callable[[], bool], processes: Sequence[Any]) -> None:
    """Until `condition()`: polled on events the processes cause (lines, rows), bounded."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        ended = [p for p in processes if p.poll() is not None]
        assert not ended, f"a process ended while waiting for {what}: {_finish(ended[0])}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _open_when_waiting(gate: Path, folder: Path, count: int, processes: Sequence[Any]) -> None:
    """Open `gate` (TEST_JOIN_GATE) once `count` processes each hold a trial waiting at it:
    each of them then finishes trials, however late it started."""
    _wait_for(
        f"{count} processes to wait at the gate",
        lambda: len({pid for pid, kind, _ in _calls(folder) if kind == "wait"}) >= count,
        processes,
    )
    gate.touch()


def _ran_trials(folder: Path) -> set[int]:
    """The pids that finished trials."""
    return {pid for pid, kind, _ in _calls(folder) if kind == "done"}


def _the_run(location: str) -> tuple[str, str, list[dict[str, Any]], dict[str, Any] | None]:
    """The one run of the store at `location`, read through the store's operations (either
    backend): its id, status, stored trials and analysis."""
    store = open_store(location, readonly=True)
    try:
        runs = store.runs()
        assert len(runs) == 1, f"one run, not {len(runs)}"
        run_id = runs[0].run_id
        analysis = store.run_record(run_id).analysis
        return run_id, runs[0].status, store.stored_trials(run_id), analysis
    finally:
        store.close()


def _stored_names(location: str) -> set[str]:
    """Test ids (`plain-i3-r0`) of the trials stored so far (none before the run exists)."""
    store = open_store(location, readonly=True)
    try:
        return {
            f"{row['condition']}-{row['item_id']}-r{row['repeat']}"
            for run in store.runs()
            for row in store.stored_trials(run.run_id)
        }
    finally:
        store.close()


def _analysis(location: str) -> dict[str, Any]:
    analysis = _the_run(location)[3]
    assert analysis, "one run, analysed"
    return analysis


def _one_process_analysis(folder: Path, items: int) -> dict[str, Any]:
    alone = _project(folder, items)
    output = _finish(_start(alone, "-q"))
    assert "passed" in output, output
    return _analysis(_default_store(alone))


def _check_each_trial_stored_once(location: str, total: int) -> None:
    _, status, trials, _ = _the_run(location)
    assert len(trials) == total
    assert {row["attempts"] for row in trials} == {1}  # never stored twice over
    assert {row["status"] for row in trials} == {"passed"}
    assert status == "completed"  # one run, made by one process


def _said_who_analysed(outputs: Sequence[str]) -> None:
    analysed = [o for o in outputs if "it analysed the run" in o]
    assert len(analysed) == 1, "\n\n".join(outputs)
    assert "demo: run" in analysed[0] or "correct (binary" in analysed[0]
    for other in outputs:
        if other is not analysed[0]:
            assert "its analysis, gates and reports are made by pid" in other, other


def test_two_processes_share_one_run_each_trial_runs_once_and_one_analyses_it(
    tmp_path: Path, store: str
) -> None:
    items = 30
    folder = _project(tmp_path / "joined", items)
    gate = folder / "go"
    env = {"TEST_JOIN_GATE": str(gate)}
    processes = [
        _start(folder, "-q", "--crucible-join=nightly-1", env=env, store=store) for _ in range(2)
    ]
    _open_when_waiting(gate, folder, 2, processes)
    outputs = [_finish(p) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], "\n\n".join(outputs)
    done = Counter(name for _, kind, name in _calls(folder) if kind == "done")
    assert len(done) == 2 * items * 2 and set(done.values()) == {1}
    assert _ran_trials(folder) == {p.pid for p in processes}  # both processes ran trials
    _check_each_trial_stored_once(store, 2 * items * 2)
    _said_who_analysed(outputs)
    for output in outputs:
        assert "ran in this process" in output and "in 1 other process(es)" in output
    assert _analysis(store) == _one_process_analysis(tmp_path / "alone", items)


def test_a_killed_process_claims_are_taken_over_and_the_run_completes(
    tmp_path: Path, store: str
) -> None:
    items, hang_after = 30, 4
    folder = _project(tmp_path / "joined", items)
    # a lease far longer than a survivor's renewal (every lease / 3) can be held up on a busy
    # machine: a live claim never expires; the victim's are taken over a lease after the kill
    join = ["-q", "--crucible-join=ci-42", "--crucible-lease=12"]
    victim = _start(folder, *join, env={"TEST_JOIN_HANG_AFTER": str(hang_after)}, store=store)
    _wait_for(
        "the victim to hang in a trial",
        lambda: any(pid == victim.pid and kind == "hang" for pid, kind, _ in _calls(folder)),
        [victim],
    )
    survivors = [_start(folder, *join, store=store) for _ in range(2)]

    def victim_stored() -> bool:  # its finished trials are in the store (kill -9 loses none)
        done = {name for pid, kind, name in _calls(folder) if pid == victim.pid and kind == "done"}
        return len(done) == hang_after and done <= _stored_names(store)

    _wait_for("the victim's trials to be stored", victim_stored, [victim, *survivors])
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=TIMEOUT_S)
    outputs = [_finish(p) for p in survivors]
    assert [p.returncode for p in survivors] == [0, 0], "\n\n".join(outputs)

    calls = _calls(folder)
    done = Counter(name for _, kind, name in calls if kind == "done")
    assert len(done) == 2 * items * 2 and set(done.values()) == {1}  # nothing finished twice
    by_victim = [name for pid, kind, name in calls if pid == victim.pid and kind == "done"]
    assert len(by_victim) == hang_after
    hung = [name for pid, kind, name in calls if kind == "hang"]
    assert len(hung) == 1 and done[hung[0]] == 1  # the hung trial was taken over
    _check_each_trial_stored_once(store, 2 * items * 2)
    _said_who_analysed(outputs)
    assert _analysis(store) == _one_process_analysis(tmp_path / "alone", items)


# Notes the parent pid of each analysis child (`python -m pytest_crucible.review ...`).
SPY_ON_ANALYSIS_CHILDREN = """
import os, sys
if sys.orig_argv[1:3] == ["-m", "pytest_crucible.review"]:
    with open(os.environ["TEST_JOIN_CHILDREN"], "a") as f:
        f.write(f"{os.getppid()}\\n")
"""


def test_only_the_process_holding_the_first_trial_warms_an_analysis_and_it_analyses(
    tmp_path: Path,
) -> None:
    """The others would import numpy, scipy and pandas for nothing, beside the trials."""
    items = 30
    folder = _project(tmp_path / "joined", items)
    spy = tmp_path / "spy"
    spy.mkdir()
    (spy / "sitecustomize.py").write_text(SPY_ON_ANALYSIS_CHILDREN)
    children = tmp_path / "children.log"
    gate = folder / "go"
    env = {
        "PYTHONPATH": os.pathsep.join(p for p in (str(spy), os.environ.get("PYTHONPATH")) if p),
        "TEST_JOIN_CHILDREN": str(children),
        "TEST_JOIN_GATE": str(gate),
    }
    processes = [_start(folder, "-q", "--crucible-join=warm-1", env=env) for _ in range(2)]
    _open_when_waiting(gate, folder, 2, processes)
    outputs = [_finish(p) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], "\n\n".join(outputs)
    assert _ran_trials(folder) == {p.pid for p in processes}  # both processes ran trials
    store = open_store(_default_store(folder), readonly=True)
    try:
        holder = store.first_claim_holder(store.runs()[0].run_id)
    finally:
        store.close()
    assert holder is not None
    lead = int(holder.split(" pid ", 1)[1].split()[0])
    assert [int(line) for line in children.read_text().split()] == [lead]  # one child
    _said_who_analysed(outputs)
    analysed = [p.pid for p, o in zip(processes, outputs, strict=True) if "it analysed" in o]
    assert analysed == [lead]


def test_a_joined_process_may_use_xdist(tmp_path: Path) -> None:
    items = 20
    folder = _project(tmp_path / "joined", items)
    join = ["-q", "--crucible-join=xdist", "--crucible-concurrency=4"]
    gate = folder / "go"
    with_xdist = _start(folder, *join, "-n", "2", env={"TEST_JOIN_GATE": str(gate)})
    _wait_for(  # both its workers hold claims, their trials wait at the gate
        "both workers of the -n 2 process to start trials",
        lambda: len({pid for pid, kind, _ in _calls(folder) if kind == "wait"}) == 2,
        [with_xdist],
    )
    plain = _start(folder, *join)
    _wait_for(
        "the other process to run trials",
        lambda: sum(pid == plain.pid and kind == "done" for pid, kind, _ in _calls(folder)) > 3,
        [with_xdist, plain],
    )
    gate.touch()
    processes = [with_xdist, plain]
    outputs = [_finish(p) for p in processes]
    waited = {pid for pid, kind, _ in _calls(folder) if kind == "wait"}
    workers = _ran_trials(folder) - {plain.pid}
    assert workers == waited and len(workers) == 2  # both xdist workers ran trials
    assert [p.returncode for p in processes] == [0, 0], "\n\n".join(outputs)
    done = Counter(name for _, kind, name in _calls(folder) if kind == "done")
    assert len(done) == 2 * items * 2 and set(done.values()) == {1}
    _check_each_trial_stored_once(_default_store(folder), 2 * items * 2)
    _said_who_analysed(outputs)
    assert _analysis(_default_store(folder)) == _one_process_analysis(tmp_path / "alone", items)


def test_a_process_stopped_early_gives_back_the_claims_it_did_not_use(tmp_path: Path) -> None:
    """-x stops a process holding claims ahead (a batch, trials started ahead): those without
    a result are given back at once, so the next process does not wait for the lease (600 s
    here, longer than the test's timeout) and completes the run."""
    items = 10
    folder = _project(tmp_path / "joined", items)
    join = ["-q", "--crucible-join=k", "--crucible-lease=600", "--crucible-concurrency=4"]
    first = _start(folder, "-x", *join, env={"TEST_JOIN_FAIL": "plain-i2-r0"})
    first_output = _finish(first)
    assert first.returncode == 1, first_output
    assert "will be made by the process that stores its last trial" in first_output
    second = _start(folder, *join)
    second_output = _finish(second)
    assert second.returncode == 0, second_output
    assert "it analysed the run" in second_output
    done = Counter(name for _, kind, name in _calls(folder) if kind == "done")
    assert len(done) == 2 * items * 2 - 1 and set(done.values()) == {1}
    trials = _rows(folder, "SELECT status, attempts FROM trials")
    assert len(trials) == 2 * items * 2 and {row["attempts"] for row in trials} == {1}
    assert Counter(row["status"] for row in trials) == {"passed": 39, "failed": 1}
    assert [row["status"] for row in _rows(folder, "SELECT status FROM runs")] == ["completed"]
    calls = len(_calls(folder))
    late = _start(folder, *join)  # the run is complete: nothing runs, and it says who analysed
    late_output = _finish(late)
    assert late.returncode == 0, late_output
    assert "40/40 trials stored: 0 ran in this process, 40 in 2 other process(es)" in late_output
    assert "its analysis, gates and reports are made by pid" in late_output
    assert len(_calls(folder)) == calls


def test_a_joined_process_claims_fewer_trials_at_once_towards_the_run_end(tmp_path: Path) -> None:
    """Claims of twice the concurrency (8 here) to the end would leave the last process to
    run up to 8 trials while the others, done, wait. Each claim is one transaction, which
    gives its trials one lease expiry: the batches are told apart by it."""
    items = 20  # 80 trials: ten batches of 8 when every claim takes 8
    folder = _project(tmp_path / "joined", items)
    join = ["-q", "--crucible-join=k", "--crucible-lease=600", "--crucible-concurrency=4"]
    process = _start(folder, *join)
    output = _finish(process)
    assert process.returncode == 0, output
    rows = _rows(folder, "SELECT expires_at FROM trial_claims ORDER BY position")
    sizes = [len(list(batch)) for _, batch in itertools.groupby(r["expires_at"] for r in rows)]
    assert sum(sizes) == 2 * items * 2
    assert sizes[0] == 8 and sizes[-1] < 8, sizes
    assert sizes == sorted(sizes, reverse=True), sizes  # fewer and fewer as the end nears


def test_a_process_with_another_experiment_definition_is_refused(tmp_path: Path) -> None:
    folder = _project(tmp_path / "joined", 6)
    first = _start(folder, "-q", "--crucible-join=k")
    assert "passed" in _finish(first)
    stored = len(_rows(folder, "SELECT trial_key FROM trials"))
    changed = folder / "test_join_demo.py"
    changed.write_text(changed.read_text().replace("repeat=2", "repeat=3"))
    (folder / "calls.log").unlink()
    second = _start(folder, "-q", "--crucible-join=k")
    output = _finish(second)
    assert second.returncode == 4, output
    assert "--crucible-join=k: experiment 'demo' here differs from run" in output
    assert "repeat (3 here, 2 in the run)" in output
    assert "give a new key to start a new run" in output
    assert "Traceback" not in output
    assert not (folder / "calls.log").exists()  # nothing ran
    assert len(_rows(folder, "SELECT trial_key FROM trials")) == stored  # nothing lost
    # a condition's code differs, which no header field shows: said so
    changed.write_text(
        changed.read_text()
        .replace("repeat=3", "repeat=2")
        .replace(
            "time.sleep(0.01)\n    return text.upper()\n",
            "time.sleep(0.02)\n    return text.upper()\n",
            1,
        )
    )
    third = _start(folder, "-q", "--crucible-join=k")
    output = _finish(third)
    assert third.returncode == 4, output
    assert "here differs from run" in output and "the code or parameters of a condition" in output
    assert len(_rows(folder, "SELECT trial_key FROM trials")) == stored


def test_join_with_resume_is_refused(tmp_path: Path) -> None:
    folder = _project(tmp_path / "joined", 2)
    process = _start(folder, "-q", "--crucible-join=k", "--crucible-resume=latest")
    output = _finish(process)
    assert process.returncode == 4, output
    assert "--crucible-join and --crucible-resume both continue a run; use one" in output


WINDOW_EXPERIMENT = """
import asyncio, os, pathlib
import pytest_crucible as crucible

GATES = pathlib.Path(os.environ["TEST_JOIN_GATES"])

window = crucible.Experiment(
    name="window",
    dataset=[{"id": f"i{n:02d}", "input": "x"} for n in range(16)],
    conditions={"echo": lambda text: text},
    seed=3,
)

@window.trial
async def test_window(condition, item, trial):
    (GATES / f"started-{item.id}").touch()
    while not (GATES / f"release-{item.id}").exists() and not (GATES / "release-all").exists():
        await asyncio.sleep(0.02)
    trial.record(length=len(await condition(item.input)))
"""


def test_a_joined_process_starts_its_next_trials_past_those_another_process_holds(
    tmp_path: Path,
) -> None:
    """The trials a process starts ahead are the next ones it may run: a window counted by
    position would stop at another process's claims (here items 8-13, held by a 'ghost'
    holder through the store's own claim operation) and start nothing more until pytest's
    loop walked past them. With concurrency 2 (claims in batches of 4, a window of 4), item
    14 must start while item 7, released last, still runs."""
    folder = tmp_path / "window"
    folder.mkdir()
    (folder / "test_window.py").write_text(WINDOW_EXPERIMENT)
    gates = folder / "gates"
    gates.mkdir()
    location = _default_store(folder)
    process = _start(
        folder,
        "-q",
        "--crucible-join=window-1",
        "--crucible-concurrency=2",
        env={"TEST_JOIN_GATES": str(gates)},
    )
    started = lambda name: (gates / f"started-{name}").exists()  # noqa: E731
    _wait_for("the first two trials", lambda: started("i00") and started("i01"), [process])
    store = open_store(location)
    try:
        (run,) = store.runs()
        keys = [
            row[0]
            for row in sqlite3.connect(location).execute(
                "SELECT trial_key FROM trial_claims WHERE run_id = ? ORDER BY position",
                (run.run_id,),
            )
        ]
        ghost = "ghost-session/main pid 1 on elsewhere"
        claimed = store.claim_trials(run.run_id, keys[8:14], ghost, 600.0).claimed
        assert claimed == keys[8:14]  # the process had not reached them yet
        for n in range(7):  # items 0-6 finish in order; 7 goes on running
            (gates / f"release-i{n:02d}").touch()
        _wait_for("item 14 to start while item 7 runs", lambda: started("i14"), [process])
        assert not (gates / "release-i07").exists() and started("i07")
        assert not any(started(f"i{n:02d}") for n in range(8, 14))  # the ghost's
        store.release_claims(run.run_id, keys[8:14], ghost)  # the process takes them over
    finally:
        store.close()
        (gates / "release-all").touch()
    output = _finish(process)
    assert process.returncode == 0, output
    _, status, trials, _ = _the_run(location)
    attempts = {row["item_id"]: row["attempts"] for row in trials}
    assert (status, len(trials), set(attempts.values())) == ("completed", 16, {1}), str(attempts)
