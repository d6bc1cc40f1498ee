"""The dashboard under load (issue 18): paging a big run, and browsers watching a live one.

1. Paging: a SQLite store holding one run of N trials (default 100,000, written as the run's
   writer writes them); `crucible serve` on it; the wall time of the run's page (its first
   page of trials), of the API's first and last page of trials, and of the run's JSON. Target:
   the run's page under 1 s (never every trial loaded).
2. Watching: an experiment of M short trials run by `pytest --crucible`, alone and while W
   clients (default 20) follow the run's event stream from a `crucible serve` of the same
   store, alternating, `--rounds` times; the median wall times and their ratio. Target: the
   watched run no more than 5% slower (the server polls the store once per run, not once per
   watcher).

    python benchmarks/dashboard.py [--trials 100000] [--watch-trials 2000] [--watchers 20]
        [--rounds 3]

(the test suite runs it at a tiny size, so that it cannot rot)
"""

from __future__ import annotations

import argparse
import os
import queue
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import NamedTuple

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store_write import HEADER, trials

from pytest_crucible.store import open_store
from pytest_crucible.store.rows import Job

WATCHED = """
import time
import pytest_crucible as crucible

exp = crucible.Experiment(
    "watched",
    dataset=[{{"id": str(i), "input": i}} for i in range({n})],
    conditions={{"a": lambda x: x, "b": lambda x: -x}},
    metrics=["ok"],
    seed=0,
)

@exp.trial
def test_trial(condition, item, trial):
    time.sleep(0.002)
    trial.log("info", f"item {{item.id}}")
    trial.record(ok=condition(item.input) is not None)
"""


SERVE = (sys.executable, "-m", "pytest_crucible.cli", "serve")
PYTEST = (
    *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
    *("--crucible", "--crucible-report=none"),
)


class Serve:
    """`crucible serve --port 0` on a store, as a subprocess."""

    def __init__(self, folder: Path, store: Path) -> None:
        self.process = subprocess.Popen(
            [*SERVE, "--port", "0", "--store", str(store)],
            cwd=folder,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("crucible: dashboard at "):
                self.base = line.split(" at ", 1)[1].strip().rstrip("/")
                break
        else:
            raise SystemExit("crucible serve did not start")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def write_run(store: Path, count: int) -> str:
    with closing(open_store(store)) as opened:
        records = trials(count)
        run_id = opened.create_run(HEADER | {"total_trials": len(records)}, {})
        jobs: list[Job] = [(run_id, record, "main") for record in records]
        for first in range(0, len(jobs), 500):
            opened.record_trials(jobs[first : first + 500])
        opened.finish_run(run_id, "completed")
    return run_id


def timed_get(client: httpx.Client, address: str) -> float:
    start = time.perf_counter()
    answer = client.get(address)
    elapsed = time.perf_counter() - start
    if answer.status_code != 200:
        raise SystemExit(f"{address}: {answer.status_code} {answer.text[:300]}")
    return elapsed


def paging(folder: Path, count: int) -> None:
    store = folder / "big.db"
    start = time.perf_counter()
    run_id = write_run(store, count)
    print(f"setup: {count:,} trials stored in {time.perf_counter() - start:.1f} s")
    server = Serve(folder, store)
    try:
        with httpx.Client(base_url=server.base, timeout=300) as client:
            last = max(0, count - 50)
            figures = [
                ("the run's page (first page)", f"/runs/{run_id}"),
                ("API: first page of trials", f"/api/runs/{run_id}/trials?limit=50"),
                ("API: last page of trials", f"/api/runs/{run_id}/trials?offset={last}"),
                ("API: the run", f"/api/runs/{run_id}"),
            ]
            for label, address in figures:
                print(f"{label:<30} {timed_get(client, address):7.3f} s")
    finally:
        server.stop()


def run_pytest(folder: Path, store: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [*PYTEST, f"--crucible-store={store}"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"pytest failed:\n{done.stdout[-3000:]}")
    return time.perf_counter() - start


def newest_running_run(base: str, stop: threading.Event) -> str | None:
    """The id of the run that appears while pytest runs (asked 5 times a second by one
    client, as one open dashboard page would; a run is stored with its first trial)."""
    with httpx.Client(base_url=base, timeout=300) as client:
        while not stop.is_set():
            running = [run for run in client.get("/api/runs").json() if run["status"] == "running"]
            if running:
                return str(running[0]["run_id"])
            stop.wait(0.2)
    return None


def watcher(base: str, run_id: str, stop: threading.Event, events: queue.Queue[int]) -> None:
    """Follows a run's events until `stop`; counts what it got."""
    seen = 0
    with (
        httpx.Client(base_url=base, timeout=300) as client,
        client.stream("GET", f"/api/runs/{run_id}/events") as stream,
    ):
        for line in stream.iter_lines():
            seen += line.startswith("event:")
            if stop.is_set():
                break
    events.put(seen)


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Round(NamedTuple):
    wall: float  # of the pytest run
    pytest_cpu: float
    server_cpu: float  # of crucible serve meanwhile
    client_cpu: float  # of this process's watcher threads meanwhile
    events: int


def measured_run(folder: Path, store: Path, server: Serve, watchers: int) -> Round:
    """One pytest run, followed by `watchers` event-stream clients (none: alone)."""
    stop = threading.Event()
    counts: queue.Queue[int] = queue.Queue()

    def follow() -> None:
        run_id = newest_running_run(server.base, stop)
        if run_id is None:
            return
        threads = [
            threading.Thread(target=watcher, args=(server.base, run_id, stop, counts))
            for _ in range(watchers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    follower = threading.Thread(target=follow, daemon=True)
    before = (children_cpu_s(), server_cpu_s(server.process.pid), time.process_time())
    if watchers:
        follower.start()
    wall = run_pytest(folder, store)
    stop.set()
    if watchers:
        follower.join(timeout=120)
    pytest_cpu = children_cpu_s() - before[0]
    server_cpu = server_cpu_s(server.process.pid) - before[1]
    events = sum(counts.get() for _ in range(counts.qsize()))
    return Round(wall, pytest_cpu, server_cpu, time.process_time() - before[2], events)


def watching(folder: Path, count: int, watchers: int, rounds: int) -> None:
    project = folder / "watched"
    project.mkdir()
    (project / "test_watched.py").write_text(WATCHED.format(n=count // 2))
    store = project / "watched.db"
    run_pytest(project, store)  # warm-up, and the store exists for the server
    server = Serve(folder, store)
    alone: list[Round] = []
    watched: list[Round] = []
    try:
        for _ in range(rounds):
            alone.append(measured_run(project, store, server, 0))
            watched.append(measured_run(project, store, server, watchers))
    finally:
        server.stop()
    print(f"{count:,} trials, medians of {rounds} alternating rounds (CPU in seconds)")
    print(f"{'':<30} {'wall s':>7} {'pytest CPU':>11} {'server CPU':>11} {'client CPU':>11}")
    for label, found in (("run alone", alone), (f"watched by {watchers} clients", watched)):
        median = [statistics.median(getattr(r, name) for r in found) for name in Round._fields]
        print(f"{label:<30} {median[0]:7.2f} {median[1]:11.2f} {median[2]:11.2f} {median[3]:11.2f}")
    plain = statistics.median(r.wall for r in alone)
    busy = statistics.median(r.wall for r in watched)
    events = sum(r.events for r in watched)
    print(f"events received by the clients: {events}")
    print(f"watched/alone wall: {busy / plain:.3f}x (target: 1.05x at most)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100_000, help="of the paged run")
    parser.add_argument("--watch-trials", type=int, default=2_000, help="of the watched run")
    parser.add_argument("--watchers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    os.environ.pop("PYTEST_ADDOPTS", None)
    with tempfile.TemporaryDirectory() as tmp:
        paging(Path(tmp), options.trials)
        watching(Path(tmp), options.watch_trials, options.watchers, options.rounds)


if __name__ == "__main__":
    main()
