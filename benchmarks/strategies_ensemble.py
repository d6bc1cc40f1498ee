"""Ensembles against their theory: majority accuracy and the calls sequential execution saves.

One run against the mock model server (a child process) whose `Accuracy` makes each of the
models m1..m5 right with probability 0.7 on each item, independently, and otherwise give one
common wrong answer. For ensembles of 3 and 5 members over the same items:

- majority accuracy of `ensemble(..., execution="parallel")` against the binomial
  prediction P(more than half right) = 0.784 (3) and 0.837 (5); target: within 2 points;
- mean members called per item by `execution="sequential"` (stop once the majority is
  decided) against the exact expectation, 2.42 (3) and 3.89 (5), i.e. 19% and 22% fewer
  calls than parallel; target: within 3%. The sequential run's answers must equal the
  parallel run's on every item (stopping early never changes the vote).

    python benchmarks/strategies_ensemble.py [--items 2000] [--concurrency 32] [--smoke]

`--smoke` (what the test suite runs) uses 60 items; the targets are then printed but, with
so few items, not expected to hold. Nothing here is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import sys
from collections.abc import Sequence

from pytest_crucible.llm import OpenAICompatibleBackend
from pytest_crucible.strategies import EnsembleResult, ensemble
from pytest_crucible.testing import Accuracy, MockModelServer

P_RIGHT = 0.7
MODELS = ("m1", "m2", "m3", "m4", "m5")


def majority_accuracy(size: int, p: float) -> float:
    """P(more than half of `size` independent members are right)."""
    need = size // 2 + 1
    return sum(math.comb(size, k) * p**k * (1 - p) ** (size - k) for k in range(need, size + 1))


def sequential_calls(size: int, p: float) -> float:
    """Expected members called when members answer in order and the run stops once one
    answer has more than half of `size` votes (two answers: right or the common wrong one)."""
    need = size // 2 + 1
    expected = 0.0
    for outcome in itertools.product((True, False), repeat=size):
        chance = math.prod(p if right else 1 - p for right in outcome)
        right = wrong = called = 0
        for is_right in outcome:
            called += 1
            right += is_right
            wrong += not is_right
            if need in (right, wrong):
                break
        expected += chance * called
    return expected


def question(i: int) -> str:
    return f"Question {i}: what is {i} + 17? [answer: {i + 17}]"


async def run_all(
    backend: OpenAICompatibleBackend, size: int, execution: str, items: int, concurrency: int
) -> list[EnsembleResult]:
    ens = ensemble([(backend, m) for m in MODELS[:size]], execution=execution, record_as=None)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> EnsembleResult:
        async with gate:
            return await ens.arun(question(i))

    return list(await asyncio.gather(*(one(i) for i in range(items))))


def report(
    size: int, items: int, parallel: Sequence[EnsembleResult], sequential: Sequence[EnsembleResult]
) -> list[str]:
    right = sum(r.answer == str(i + 17) for i, r in enumerate(parallel)) / items
    predicted = majority_accuracy(size, P_RIGHT)
    calls = sum(r.members_called for r in sequential) / items
    expected_calls = sequential_calls(size, P_RIGHT)
    same = all(s.answer == p.answer for s, p in zip(sequential, parallel, strict=True))
    accuracy_ok = abs(right - predicted) <= 0.02
    calls_ok = abs(calls - expected_calls) <= 0.03 * expected_calls
    return [
        f"{size:>4}  {items:>5}  {right:>9.3f}  {predicted:>9.3f}"
        f"  {100 * (right - predicted):>+6.1f}"
        f"  {calls:>9.2f}  {expected_calls:>9.2f}  {100 * (1 - calls / size):>7.1f}%"
        f"  {100 * (1 - expected_calls / size):>7.1f}%  {'yes' if same else 'NO'}",
        f"target {size}: majority within 2 points {'yes' if accuracy_ok else 'NO'}; "
        f"sequential calls within 3% {'yes' if calls_ok else 'NO'}",
    ]


async def main(items: int, concurrency: int) -> list[str]:
    accuracy = Accuracy({"*": P_RIGHT}, wrong="WRONG", seed=2026)
    with MockModelServer(answers=accuracy, in_process=True) as server:
        async with OpenAICompatibleBackend(server.base_url, max_connections=concurrency) as backend:
            lines = [
                f"ensembles of members right with p={P_RIGHT} each (independent), one common "
                f"wrong answer; {items} items, concurrency {concurrency}",
                "size  items  majority   binomial   diff pt  seq calls  predicted  saved      "
                "predicted  same answers",
            ]
            targets = []
            for size in (3, 5):
                parallel = await run_all(backend, size, "parallel", items, concurrency)
                sequential = await run_all(backend, size, "sequential", items, concurrency)
                row, target = report(size, items, parallel, sequential)
                lines.append(row)
                targets.append(target)
            requests = server.stats()["requests"]
    return [*lines, *targets, f"model calls made: {requests}"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="60 items: the script runs")
    options = parser.parse_args()
    count = 60 if options.smoke else options.items
    for line in asyncio.run(main(count, options.concurrency)):
        print(line)
    sys.stdout.flush()
