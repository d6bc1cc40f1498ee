"""One rate limit shared by several processes (`RateLimit(shared=True)`), from one run.

P processes (default 4) each want `--rate` requests/s (default 100) of the same model, whose
provider allows `--limit` requests/s (default 200) in all. Each process paces its calls at its
rate (16 in flight) through `OpenAICompatibleBackend.agenerate` to a loopback mock server (in
a child process) that answers at once; the processes start together. Side by side:

- local, no limit: each process keeps only its own pace: together P x rate;
- local, limit / P each: the static split (`RateLimit(...).share(1 / P)`);
- shared: `RateLimit(limit, shared=True)`, permits leased from one SQLite store;
- shared / local, not binding: a limit far above the demand, to show the cost of leasing.

For each: requests/s achieved over the run, the most requests the server received in any one
second (its request log), wall time, client CPU ms per call (all processes), the mean call
latency (the time in the limiter included) and the shared limiter's store transactions (each
process opens the store before the start, as a pytest session has). The last line gives the
extra latency and CPU per call of the shared limiter against the local one when neither binds.

    python benchmarks/shared_rate.py [--processes 4] [--rate 100] [--limit 200] [--calls 250]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_crucible.llm import ModelRequest, OpenAICompatibleBackend, RateLimit, RateLimiter
from pytest_crucible.llm.shared_rate import use_shared_permits
from pytest_crucible.llm.types import ChatMessage
from pytest_crucible.run.shared_permits import StorePermits
from pytest_crucible.testing import MockModelServer
from pytest_crucible.testing._stats import REQUEST_LOG_SIZE

IN_FLIGHT = 16


@dataclass(frozen=True)
class Case:
    label: str
    limit: float | None  # requests/s for each process's backend (None: no RateLimit)
    shared: bool


@dataclass(frozen=True)
class Result:
    case: Case
    calls: int
    wall_s: float
    cpu_s: float
    latency_s: float  # summed over calls
    busiest: int
    leases: int  # store transactions of the shared limiter


# -- one process ---------------------------------------------------------------------------


async def _calls(backend: OpenAICompatibleBackend, pace: RateLimiter, calls: int) -> float:
    """Make `calls` calls at the pace's rate; the summed latency of the calls."""
    left, total = calls, 0.0

    async def caller() -> None:
        nonlocal left, total
        while left > 0:
            left -= 1
            pace.success(await pace.aacquire())
            request = ModelRequest(
                model="mock-model", messages=(ChatMessage(role="user", content="hi"),)
            )
            began = time.perf_counter()
            await backend.agenerate(request)
            total += time.perf_counter() - began

    async with backend:
        await asyncio.gather(*(caller() for _ in range(IN_FLIGHT)))
    return total


def worker(spec: dict[str, Any]) -> None:
    """One process of a case: say ready, wait for the start file, call, print the figures."""
    if spec["shared"]:
        permits = StorePermits(spec["store"])
        permits.take("warm-up", 1, 1.0, 1.0)  # the store opened before the start, as in a run
        use_shared_permits(permits)
    limit = spec["limit"]
    backend = OpenAICompatibleBackend(
        base_url=spec["url"],
        api_key_env=None,
        rate_limit=None if limit is None else RateLimit(limit, shared=spec["shared"]),
    )
    pace = RateLimiter(RateLimit(spec["rate"], burst=1))
    print("ready", flush=True)
    start = Path(spec["start"])
    while not start.exists():
        time.sleep(0.001)
    wall, cpu = time.perf_counter(), time.process_time()
    latency = asyncio.run(_calls(backend, pace, spec["calls"]))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    limiter = backend.rate_limiter()
    leases = 0 if limiter is None else limiter.stats().get("shared_leases", 0)
    figures = {"wall_s": wall, "cpu_s": cpu, "latency_s": latency, "leases": leases}
    print(json.dumps(figures), flush=True)


# -- the cases, side by side ---------------------------------------------------------------


def busiest_second(arrivals: list[float]) -> int:
    arrivals = sorted(arrivals)
    most, first = 0, 0
    for last, at in enumerate(arrivals):
        while at - arrivals[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def measure(server: MockModelServer, case: Case, args: argparse.Namespace) -> Result:
    server.reset()
    folder = Path(tempfile.mkdtemp(prefix="shared-rate-"))
    spec = {
        "url": server.base_url,
        "limit": case.limit,
        "shared": case.shared,
        "rate": args.rate,
        "calls": args.calls,
        "store": str(folder / "crucible.db"),
        "start": str(folder / "start"),
    }
    command = [sys.executable, __file__, "--worker", json.dumps(spec)]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(args.processes)
    ]
    for process in workers:  # every process imported and built its backend
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    Path(spec["start"]).touch()
    figures = [json.loads(process.communicate(timeout=600)[0]) for process in workers]
    assert all(process.returncode == 0 for process in workers)
    arrivals = [entry["received_at"] for entry in server.request_log()]
    return Result(
        case,
        calls=args.calls * args.processes,
        wall_s=max(f["wall_s"] for f in figures),
        cpu_s=sum(f["cpu_s"] for f in figures),
        latency_s=sum(f["latency_s"] for f in figures),
        busiest=busiest_second(arrivals),
        leases=sum(f["leases"] for f in figures),
    )


def table(results: list[Result]) -> str:
    header = (
        f"{'case':<34} {'calls':>6} {'wall s':>7} {'req/s':>7} {'most in 1 s':>11} "
        f"{'CPU ms/call':>11} {'latency ms':>10} {'store trips':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(
            f"{r.case.label:<34} {r.calls:>6} {r.wall_s:>7.2f} {r.calls / r.wall_s:>7.0f} "
            f"{r.busiest:>11} {1000 * r.cpu_s / r.calls:>11.3f} "
            f"{1000 * r.latency_s / r.calls:>10.2f} {r.leases:>11}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s each process wants")
    parser.add_argument("--limit", type=float, default=200.0, help="the provider's requests/s")
    parser.add_argument("--calls", type=int, default=250, help="calls per process")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return
    if args.calls * args.processes > REQUEST_LOG_SIZE:
        parser.error(f"--calls x --processes must be at most {REQUEST_LOG_SIZE} (the log)")
    far = 100 * args.limit
    cases = [
        Case(f"local, no limit ({args.rate:g}/s each)", None, shared=False),
        Case(f"local, {args.limit / args.processes:g}/s each", args.limit / args.processes, False),
        Case(f"shared {args.limit:g}/s", args.limit, shared=True),
        Case(f"local {far:g}/s (not binding)", far, shared=False),
        Case(f"shared {far:g}/s (not binding)", far, shared=True),
    ]
    results = []
    with MockModelServer(in_process=True) as server:
        for case in cases:
            results.append(measure(server, case, args))
            print(f"  {case.label}: {results[-1].wall_s:.1f} s", flush=True)
    print()
    print(
        f"{args.processes} processes x {args.calls} calls, each paced at {args.rate:g} "
        f"requests/s; the provider's limit: {args.limit:g} requests/s (+ its burst)"
    )
    print(table(results))
    local, shared = results[-2], results[-1]
    extra_ms = 1000 * (shared.latency_s - local.latency_s) / shared.calls
    cpu_ratio = shared.cpu_s / local.cpu_s
    print(
        f"shared vs local limiter, not binding: {extra_ms:+.3f} ms latency per call, "
        f"CPU {cpu_ratio:.2f}x"
    )


if __name__ == "__main__":
    main()
