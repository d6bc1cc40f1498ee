"""Writing trials to the store: PostgreSQL against SQLite, from one run.

N realistic trial results (a model-calling trial each: three metrics, a 300-character
output, token usage, one recorded model call, one log line, the item's content once per
item) are written as the run's writer thread writes them (`store/writer.py`): in batches of
what arrived within its gather window, each batch one `record_trials` transaction. Two batch
sizes: 40 (2,000 trials/s x its 20 ms window: the writer keeping up) and 500 (its largest:
a writer that fell behind gathers up to 500, so its rate at 500 is its ceiling). Figures:
trials per second, wall time, our process's CPU time and (for the server this script
starts) the PostgreSQL server's CPU time read from /proc; then whether one writer keeps up
with 2,000 trials/s (its ceiling at least that).

The server is started from the machine's binaries with tests/postgres_server.py, durable
(fsync on, as servers run), or given with --postgres-url (its CPU is then not measured).

Run: .venv/bin/python benchmarks/store_write.py [--trials 100000] [--batches 40,500]
    [--postgres-url postgresql://...]
(the test suite runs it with --trials 200, so that it cannot rot)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from postgres_server import PostgresServer, find_bindir
from pytest_crucible.store import open_store
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.rows import Job

TARGET_RATE = 2000  # trials per second one writer must keep up with
CONDITIONS = ("baseline", "cot", "few_shot", "terse")
REPEATS = 3
HEADER = {
    "name": "store-write",
    "fingerprint": "f",
    "dataset_fingerprint": "d",
    "seed": 0,
    "total_trials": 0,
    "config": {"model": "mock"},
}


def trials(count: int) -> list[TrialRecord]:
    """`count` results of CONDITIONS x items x REPEATS, model-calling trials."""
    records = []
    for number in range(count):
        condition = CONDITIONS[number % len(CONDITIONS)]
        item, repeat = divmod(number // len(CONDITIONS), REPEATS)
        key = f"{condition}-{item}-{repeat}"
        usage = {"input_tokens": 412, "output_tokens": 96, "cost_usd": 0.00031, "model_calls": 1}
        call = {
            "cache_key": f"k{number:08x}",
            "backend": "openai",
            "model": "mock",
            "request": {"messages": [{"role": "user", "content": f"question {item}"}]},
            "response": {"text": "answer " * 40, "usage": {"input_tokens": 412}},
        }
        records.append(
            TrialRecord(
                experiment="store-write",
                key=key,
                condition=condition,
                item_id=f"item-{item:06d}",
                repeat=repeat,
                status="passed",
                item=None if repeat else {"input": f"question {item}", "expected": "yes"},
                metrics={"correct": number % 3 == 0, "score": number % 7 / 7, "tokens": 96},
                output="answer " * 43,
                calls=1,
                latency_s=0.2,
                logs=[{"level": "info", "message": f"asked {key}", "at": 1.7e9}],
                started_at=1.7e9 + number,
                ended_at=1.7e9 + number + 0.2,
                usage=usage,
                model_calls=[call],
            )
        )
    return records


def server_cpu_s(pids: Sequence[int]) -> float:
    """User + system CPU seconds of `pids` so far (those still running)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def write_all(
    location: str, side: Path, records: list[TrialRecord], batch: int, cpu: Callable[[], float]
) -> dict[str, float]:
    """Write `records` in batches of `batch`; wall, our CPU and the server's CPU (s)."""
    with closing(open_store(location, side_folder=side)) as store:
        run_id = store.create_run(HEADER | {"total_trials": len(records)}, {})
        jobs: list[Job] = [(run_id, record, "main") for record in records]
        server_before, ours_before, start = cpu(), time.process_time(), time.perf_counter()
        for first in range(0, len(jobs), batch):
            store.record_trials(jobs[first : first + batch])
        wall = time.perf_counter() - start
        ours, server = time.process_time() - ours_before, cpu() - server_before
        stored = store.run(run_id)
    assert stored is not None and stored.stored_trials == len(records), "trials lost"
    return {"wall": wall, "ours": ours, "server": server, "rate": len(records) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--batches", default="40,500", help="trials per transaction")
    parser.add_argument("--postgres-url", help="a database to write to (else one is started)")
    args = parser.parse_args()
    records = trials(args.trials)
    server = None
    if args.postgres_url is None:
        bindir = find_bindir()
        if bindir is None:
            sys.exit("no PostgreSQL server binaries (initdb): install `postgresql`, or give "
                     "--postgres-url")  # fmt: skip
        server = PostgresServer(bindir, durable=True).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            results = measure(Path(folder), records, args, server)
    finally:
        if server is not None:
            server.stop()
    show(results, args)


def measure(
    folder: Path, records: list[TrialRecord], args: argparse.Namespace, server: Any
) -> dict[tuple[str, int], dict[str, float]]:
    """(store, batch size) -> its figures."""

    def pg_cpu() -> float:
        return server_cpu_s(server.server_pids()) if server is not None else float("nan")

    results = {}
    for batch in [int(size) for size in args.batches.split(",")]:
        url = args.postgres_url or server.url(server.new_database())
        sqlite = folder / f"crucible-{batch}.db"
        results["sqlite", batch] = write_all(str(sqlite), folder, records, batch, lambda: 0.0)
        results["postgresql", batch] = write_all(url, folder, records, batch, pg_cpu)
    return results


def show(results: dict[tuple[str, int], dict[str, float]], args: argparse.Namespace) -> None:
    print(f"{args.trials} trials written by one writer, a transaction per batch")
    print(
        f"{'store':<12}{'batch':>6}{'trials/s':>10}{'wall s':>9}{'CPU s ours':>12}"
        f"{'CPU s server':>14}"
    )
    for (name, batch), r in results.items():
        server = "-" if name == "sqlite" else f"{r['server']:.2f}"
        print(
            f"{name:<12}{batch:>6}{r['rate']:>10.0f}{r['wall']:>9.2f}{r['ours']:>12.2f}{server:>14}"
        )
    batches = sorted({batch for _, batch in results})
    for batch in batches:
        pg, lite = results["postgresql", batch], results["sqlite", batch]
        print(
            f"postgresql/sqlite at batch {batch}: wall {pg['wall'] / lite['wall']:.2f}x, "
            f"CPU ours {pg['ours'] / max(lite['ours'], 1e-9):.2f}x"
        )
    for name in ("sqlite", "postgresql"):
        ceiling = results[name, batches[-1]]["rate"]
        verdict = "yes" if ceiling >= TARGET_RATE else "NO"
        print(
            f"one writer keeps up with {TARGET_RATE} trials/s: {name} {verdict} "
            f"(up to {ceiling:.0f}/s at batch {batches[-1]})"
        )


if __name__ == "__main__":
    main()
