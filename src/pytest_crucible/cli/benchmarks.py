"""`crucible benchmarks [NAME]`: the built-in benchmarks, and how to use one.

Reads nothing but the registry and this machine's folders: no network, no data loaded.
"""

from __future__ import annotations

import argparse
from typing import Any

from pytest_crucible.benchmarks import BENCHMARKS, Benchmark, benchmark

__all__ = ["add_parser"]

_NOT_FOUND = "not found on this machine"


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "benchmarks",
        parents=[shared],
        help="list the built-in benchmarks (mmlu, gsm8k, humaneval); NAME: how to use one",
        description=__doc__,
    )
    parser.add_argument("name", nargs="?", default=None, metavar="NAME", help="one benchmark")
    parser.set_defaults(handler=_benchmarks)


def _benchmarks(options: argparse.Namespace) -> int:
    if options.name is None:
        for index, known in enumerate(BENCHMARKS):
            if index:
                print()
            print(_summary(known))
        print("\n`crucible benchmarks NAME` shows how to use one (docs/benchmarks.md).")
        return 0
    chosen = benchmark(options.name)
    print(_summary(chosen))
    print(f"\n{_usage(chosen)}")
    return 0


def _summary(known: Benchmark) -> str:
    found = known.found()
    rows = [
        ("items", f"{known.size} ({known.split} split)"),
        ("source", known.source),
        ("found", found if found is not None else f"{_NOT_FOUND}; get it: {known.get_it}"),
        ("scorer", f"{known.scorer_name}: {known.scorer_description}"),
        ("cluster", known.cluster_key or "none (items are independent)"),
    ]
    lines = [f"{known.name}: {known.description}"]
    lines += [f"  {label:<8} {value}" for label, value in rows]
    return "\n".join(lines)


def _usage(known: Benchmark) -> str:
    trial_lines = known.example.split("\n...\n")
    dataset_line, body = trial_lines[0], trial_lines[-1]
    return "\n".join(
        [
            "Use it in an experiment (a test file run with `pytest --crucible`):",
            "",
            "    import pytest_crucible as crucible",
            "    from pytest_crucible import benchmarks, scorers",
            "",
            f"    {dataset_line}",
            "    experiment = crucible.Experiment(",
            f'        name="{known.name}-prompts",',
            "        dataset=dataset,",
            '        conditions={"plain": plain, "careful": careful},  # your callables',
            '        baseline="plain",',
            "        metrics={" + f'"{_metric(known)}": crucible.Metric(kind="binary")' + "},",
            "    )",
            "",
            "    @experiment.trial",
            f"    async def test_{known.name}(condition, item, trial):",
            *(f"    {line}" for line in body.split("\n")),
            "",
            f"Recommended scorer: {known.scorer_name} ({known.scorer_description}).",
            (
                f"Cluster key: {known.cluster_key}; the analysis compares conditions over "
                "clusters, as items of one cluster are not independent."
                if known.cluster_key
                else "Cluster key: none; items are compared one by one."
            ),
            f"Local copy: {known.found() or _NOT_FOUND}; get it with: {known.get_it}",
        ]
    )


def _metric(known: Benchmark) -> str:
    return "passed" if known.name == "humaneval" else "correct"
