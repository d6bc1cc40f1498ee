"""Async model calls at high concurrency: httpx's own transport against httpx-aiohttp.

N calls (default 2,000) through `OpenAICompatibleBackend.agenerate` to a loopback mock
server that answers each after `--latency` seconds (default 0.2), with C calls in flight at
once, for each C and each async transport. The mock server runs in a child process, so its
CPU stays off this process's GIL. The ideal wall time is N x latency / C; the table gives the
measured wall time, ideal/wall (1.0 = the physical limit), calls per second, the client's CPU
time per call, and the most requests the server saw in flight at once.

    python benchmarks/transport.py [--calls 2000] [--concurrency 32 128] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import get_args

from pytest_crucible.llm import ModelCallError, ModelRequest, OpenAICompatibleBackend, RetryPolicy
from pytest_crucible.llm._http import AsyncTransport
from pytest_crucible.llm.types import ChatMessage
from pytest_crucible.testing import MockModelServer

TRANSPORTS: tuple[AsyncTransport, ...] = get_args(AsyncTransport)[::-1]  # httpx first
LABELS = {"httpx": "httpx (httpcore)", "aiohttp": "httpx-aiohttp"}


@dataclass(frozen=True)
class Result:
    transport: AsyncTransport
    concurrency: int
    calls: int
    wall_s: float
    cpu_s: float
    failures: int
    max_in_flight: int


async def _run(backend: OpenAICompatibleBackend, calls: int, concurrency: int) -> int:
    """Make `calls` calls with `concurrency` workers; return how many failed."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(calls):
        queue.put_nowait(number)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            number = queue.get_nowait()
            request = ModelRequest(
                model="mock-model",
                messages=(ChatMessage(role="user", content=f"question {number}"),),
                max_tokens=16,
            )
            try:
                await backend.agenerate(request)
            except ModelCallError:
                failures += 1

    async with backend:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


def measure(
    server: MockModelServer, transport: AsyncTransport, calls: int, concurrency: int
) -> Result:
    server.reset()
    backend = OpenAICompatibleBackend(
        server.base_url,
        api_key_env=None,
        retry=RetryPolicy.none(),
        max_connections=max(256, concurrency),
        async_transport=transport,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    failures = asyncio.run(_run(backend, calls, concurrency))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = server.stats()
    return Result(transport, concurrency, calls, wall, cpu, failures, stats["max_in_flight"])


def table(results: list[Result], latency: float) -> str:
    header = (
        f"{'transport':<18} {'C':>4} {'calls':>6} {'wall s':>8} {'ideal s':>8} "
        f"{'ideal/wall':>10} {'calls/s':>8} {'CPU ms/call':>11} {'in flight':>9} {'failed':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        ideal = r.calls * latency / r.concurrency
        lines.append(
            f"{LABELS[r.transport]:<18} {r.concurrency:>4} {r.calls:>6} {r.wall_s:>8.1f} "
            f"{ideal:>8.1f} {ideal / r.wall_s:>10.2f} {r.calls / r.wall_s:>8.0f} "
            f"{1000 * r.cpu_s / r.calls:>11.2f} {r.max_in_flight:>9} {r.failures:>6}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args(argv)
    results = []
    with MockModelServer(latency=args.latency, in_process=True) as server:
        for concurrency in args.concurrency:
            for transport in TRANSPORTS:
                result = measure(server, transport, args.calls, concurrency)
                print(f"  {LABELS[transport]} C={concurrency}: {result.wall_s:.1f} s", flush=True)
                results.append(result)
    print()
    print(f"{args.calls} calls, server latency {args.latency} s, ideal = calls x latency / C")
    print(table(results, args.latency))


if __name__ == "__main__":
    main()
