"""Reliability strategies measured against the mock model server, in one run.

Hedging (`_strategies_hedging.py`): P50, P95, P99 latency and extra requests of hedging
policies against no hedging, 2,000 calls per policy, with the issue's targets checked.

    python benchmarks/strategies.py [--calls 2000] [--concurrency 200] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _strategies_hedging as hedging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per policy")
    parser.add_argument("--concurrency", type=int, default=200, help="calls in flight")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (the tests' check)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls, args.concurrency = 100, 20
    hedging.run(args.calls, args.concurrency)


if __name__ == "__main__":
    main()
