"""One run spread over several processes (`--crucible-join`) against the same run in one.

The experiment of throughput.py (one model call per trial through the project's async
backend to a loopback `MockModelServer` with a fixed latency, default 0.2 s), N trials at
`--crucible-concurrency` C per process:

- one process: `pytest --crucible` alone;
- joined: P processes (default 3) started at once with the same `--crucible-join=KEY` on one
  store, each at concurrency C; timed from the first start to the last exit.

The store is a SQLite file per case, or with `--store URL` one PostgreSQL database for both
cases (each case reads back its own run: the newest).

The server must see exactly N answered calls in each case (every trial called once, none
twice), and the joined run must store N passed trials. Columns: `wall s` whole processes
(start-up, collection and the session-end analysis included: what a user waits for); `CPU s`
user + system of every process of the case; `span s` first trial start to last trial end
from the store. The speed-up is one process's wall over the joined wall (issue 17 asks for at
least 2.6x with 3 processes, 3,000 trials, 0.2 s calls, C = 32); the span ratio leaves out
the fixed start-up and analysis costs that do not shrink with more processes.

    python benchmarks/join.py [--trials 3000] [--processes 3] [--concurrency 32]
        [--latency 0.2] [--store postgresql://USER:PASSWORD@HOST:PORT/DB] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from _throughput_files import CRUCIBLE_CALLS
from _throughput_run import CaseFailed

from pytest_crucible.store import open_store
from pytest_crucible.testing import MockModelServer

NO_HYPOTHESIS = "no:hypothesispytest"


@dataclass
class Case:
    name: str
    wall: float
    cpu: float
    span: float
    calls: int
    shares: list[int]  # trials each process ran


@dataclass
class Stored:
    span: float  # first trial start to last trial end, seconds
    passed: int
    shares: list[int]  # trials run by each process, most first


def stored(store: str) -> Stored:
    """What the newest run of the store holds (either backend, through the store's
    operations)."""
    opened = open_store(store, readonly=True)
    try:
        run = opened.runs()[0]
        spans = opened.trial_spans(run.run_id)
        starts = [datetime.fromisoformat(s.started_at) for s in spans if s.started_at]
        ends = [datetime.fromisoformat(s.ended_at) for s in spans if s.ended_at]
        span = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
        by_session: dict[str, int] = {}
        for holder, count in opened.trials_by_holder(run.run_id).items():
            session = holder.split("/", 1)[0]
            by_session[session] = by_session.get(session, 0) + count
        shares = sorted(by_session.values(), reverse=True) or [run.stored_trials]
        return Stored(span, len(spans), shares)
    finally:
        opened.close()


def run_processes(
    commands: list[list[str]], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[float, float]:
    """Start every command at once; wall time to the last exit, CPU of all their processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for command in commands
    ]
    outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for process, output in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise CaseFailed(f"a process exited {process.returncode}:\n{output[-3000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu


def pytest_command() -> list[str]:
    """pytest as a user's install runs it: hypothesis comes with the project's dev tools,
    not with what a user installs, and its plugin's start-up and summary (0.4 s per process)
    would count as ours."""
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", NO_HYPOTHESIS]


def environment(
    options: argparse.Namespace, server: MockModelServer, folder: Path
) -> dict[str, str]:
    """The processes' environment: the experiment's size and server, Python writing its
    bytecode caches as it does by default (a PYTHONDONTWRITEBYTECODE of the calling shell
    would have every process compile again what changed since the caches were written), and
    no trio: only the dev tools install it, and anyio's pytest plugin (which every install
    has, through httpx) imports it when it is there (70 ms per process)."""
    blocked = folder / "without-dev-tools"
    (blocked / "trio").mkdir(parents=True, exist_ok=True)
    (blocked / "trio" / "__init__.py").write_text(
        'raise ImportError("trio is one of the dev tools, not of a user\'s install")\n'
    )
    path = os.pathsep.join(p for p in (str(blocked), os.environ.get("PYTHONPATH")) if p)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        PYTHONPATH=path,
        BENCH_TRIALS=str(options.trials),
        BENCH_MAX_TOKENS="16",
        BENCH_BASE_URL=server.base_url,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def warm_up(folder: Path, server: MockModelServer, options: argparse.Namespace) -> None:
    """Collect once before the timed cases, so that both start from the same warm caches
    (bytecode, the file system's), not the first one alone from cold ones."""
    command = [*pytest_command(), "--crucible", "--crucible-report=none", "--collect-only"]
    command.append(f"--crucible-store={folder / 'warm-up.db'}")
    subprocess.run(
        command,
        cwd=folder,
        env=environment(options, server, folder),
        stdout=subprocess.DEVNULL,
        timeout=options.timeout,
        check=True,
    )


def case(
    name: str, folder: Path, server: MockModelServer, options: argparse.Namespace, processes: int
) -> Case:
    store = options.store or str(folder / f"{name}.db")
    args = [*pytest_command(), "--crucible"]
    args += [f"--crucible-store={store}", "--crucible-report=none"]
    args += [f"--crucible-concurrency={options.concurrency}"]
    if processes > 1:
        # a new key each time: a PostgreSQL store keeps the joined runs of earlier invocations
        args.append(f"--crucible-join={name}-{uuid.uuid4().hex[:8]}")
    wall, cpu = run_processes(
        [args] * processes, folder, environment(options, server, folder), options.timeout
    )
    calls = int(server.stats()["requests"])
    server.reset()
    found = stored(store)
    if found.passed != options.trials or calls != options.trials:
        raise CaseFailed(
            f"{name}: {found.passed} of {options.trials} trials passed, and the server saw "
            f"{calls} calls (each trial must call it once)"
        )
    return Case(name, wall, cpu, found.span, calls, found.shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--smoke", action="store_true", help="60 trials, 10 ms calls")
    parser.add_argument("--store", help="a PostgreSQL URL (default: a SQLite file per case)")
    options = parser.parse_args()
    if options.smoke:
        options.trials, options.latency = 60, 0.01
    with tempfile.TemporaryDirectory(prefix="crucible-join-") as root:
        folder = Path(root)
        (folder / "test_calls.py").write_text(CRUCIBLE_CALLS.lstrip())
        with MockModelServer(latency=options.latency, in_process=True) as server:
            warm_up(folder, server, options)
            one = case("one", folder, server, options, 1)
            joined = case("joined", folder, server, options, options.processes)
    ideal = options.trials * options.latency / options.concurrency
    print(
        f"{options.trials} trials, {options.latency:g} s per model call, concurrency "
        f"{options.concurrency} per process (ideal span in one process {ideal:.1f} s)"
    )
    print(f"{'case':<22} {'wall s':>8} {'CPU s':>8} {'span s':>8} {'calls':>6}  trials per process")
    for row, label in ((one, "one process"), (joined, f"{options.processes} joined processes")):
        share = ", ".join(str(n) for n in row.shares)
        print(f"{label:<22} {row.wall:8.2f} {row.cpu:8.2f} {row.span:8.2f} {row.calls:6d}  {share}")
    cores = os.cpu_count() or 1
    if cores < options.processes:
        print(
            f"note: this machine has {cores} core(s) for {options.processes} processes: the "
            "joined case is bounded by CPU here, not by the model calls"
        )
    print(
        f"speed-up of {options.processes} joined processes: {one.wall / joined.wall:.2f}x "
        f"wall, {one.span / joined.span:.2f}x span (issue 17 asks >= 2.6x for 3)"
    )


if __name__ == "__main__":
    main()
