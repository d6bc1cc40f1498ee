"""Reliability strategies measured against the mock model server, in one run.

Hedging (`_strategies_hedging.py`): P50, P95, P99 latency and extra requests of hedging
policies against no hedging, 2,000 calls per policy, with the issue's targets checked.
Ensembles (`strategies_ensemble.py`, also runnable alone): majority accuracy of 3 and 5
members right with p = 0.7 each against the binomial prediction, and the calls per item of
sequential execution against parallel, 2,000 items.

    python benchmarks/strategies.py [--calls 2000] [--concurrency 200] [--items 2000] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _strategies_hedging as hedging
import strategies_ensemble as ensembles


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per policy")
    parser.add_argument("--concurrency", type=int, default=200, help="calls in flight")
    parser.add_argument("--items", type=int, default=2000, help="items per ensemble size")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (the tests' check)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls, args.concurrency, args.items = 100, 20, 60
    hedging.run(args.calls, args.concurrency)
    print()
    wall, cpu = time.perf_counter(), time.process_time()
    for line in asyncio.run(ensembles.main(args.items, 32)):
        print(line)
    print(
        f"ensemble run: {time.perf_counter() - wall:.1f} s wall, "
        f"{time.process_time() - cpu:.1f} s CPU (the mock server runs in this process)"
    )


if __name__ == "__main__":
    main()
