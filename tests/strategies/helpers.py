"""Shared pieces of the ensemble tests: questions whose right answer the mock server's
`Accuracy` reads from the prompt, and running many ensemble calls at once."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence

from pytest_crucible.strategies import Ensemble, EnsembleResult


def question(i: int) -> str:
    return f"Question {i}: what is {i} + 1? [answer: {i + 1}]"


def expected(i: int) -> str:
    return str(i + 1)


def within_6_sigma(count: float, n: int, p: float) -> bool:
    return abs(count - n * p) <= 6 * math.sqrt(n * p * (1 - p))


def majority_probability(size: int, p: float) -> float:
    """The chance that more than half of `size` independent members, each right with `p`,
    are right (the binomial prediction)."""
    need = size // 2 + 1
    return sum(math.comb(size, k) * p**k * (1 - p) ** (size - k) for k in range(need, size + 1))


def run_many(ens: Ensemble, items: Sequence[int], concurrency: int = 16) -> list[EnsembleResult]:
    """`ens.arun(question(i))` for every item, `concurrency` at a time, in item order."""

    async def main() -> list[EnsembleResult]:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> EnsembleResult:
            async with gate:
                return await ens.arun(question(i))

        return list(await asyncio.gather(*(one(i) for i in items)))

    return asyncio.run(main())
