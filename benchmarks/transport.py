"""Async model calls at high concurrency: the backends' async clients side by side.

N calls (default 2,000) through `OpenAICompatibleBackend.agenerate` to a loopback mock
server that answers each after `--latency` seconds (default 0.2), with C calls in flight at
once, for each C and each client: httpx's own (`async_transport="httpx"`: httpcore's pool),
httpx's client over aiohttp's pool (the `httpx-aiohttp` package's client, given as
`async_client=`: what the default was until 2026-12) and the default, aiohttp's pool called
directly (`async_transport="aiohttp"`). The mock server runs in a child process, so its
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
from typing import Any

import httpx
from httpx_aiohttp import HttpxAiohttpClient

from pytest_crucible.llm import ModelCallError, ModelRequest, OpenAICompatibleBackend, RetryPolicy
from pytest_crucible.llm.types import ChatMessage
from pytest_crucible.testing import MockModelServer

HTTPX, HTTPX_AIOHTTP, AIOHTTP = "httpx (httpcore)", "httpx-aiohttp", "aiohttp (default)"
CLIENTS = (HTTPX, HTTPX_AIOHTTP, AIOHTTP)


@dataclass(frozen=True)
class Result:
    client: str
    concurrency: int
    calls: int
    wall_s: float
    cpu_s: float
    failures: int
    max_in_flight: int


async def _run(
    backend: OpenAICompatibleBackend,
    calls: int,
    concurrency: int,
    given: httpx.AsyncClient | None,
) -> int:
    """Make `calls` calls with `concurrency` workers; return how many failed. A `given`
    client is the caller's to close (the backend never closes it)."""
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
    if given is not None:
        await given.aclose()
    return failures


def measure(server: MockModelServer, client: str, calls: int, concurrency: int) -> Result:
    server.reset()
    connections = max(256, concurrency)
    options: dict[str, Any] = {"async_transport": "httpx" if client == HTTPX else "aiohttp"}
    given = None
    if client == HTTPX_AIOHTTP:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        given = HttpxAiohttpClient(timeout=60.0, limits=limits)
        options = {"async_client": given}
    backend = OpenAICompatibleBackend(
        server.base_url,
        api_key_env=None,
        retry=RetryPolicy.none(),
        max_connections=connections,
        **options,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    failures = asyncio.run(_run(backend, calls, concurrency, given))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = server.stats()
    return Result(client, concurrency, calls, wall, cpu, failures, stats["max_in_flight"])


def table(results: list[Result], latency: float) -> str:
    header = (
        f"{'client':<18} {'C':>4} {'calls':>6} {'wall s':>8} {'ideal s':>8} "
        f"{'ideal/wall':>10} {'calls/s':>8} {'CPU ms/call':>11} {'in flight':>9} {'failed':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        ideal = r.calls * latency / r.concurrency
        lines.append(
            f"{r.client:<18} {r.concurrency:>4} {r.calls:>6} {r.wall_s:>8.1f} "
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
            for client in CLIENTS:
                result = measure(server, client, args.calls, concurrency)
                print(f"  {client} C={concurrency}: {result.wall_s:.1f} s", flush=True)
                results.append(result)
    print()
    print(f"{args.calls} calls, server latency {args.latency} s, ideal = calls x latency / C")
    print(table(results, args.latency))


if __name__ == "__main__":
    main()
