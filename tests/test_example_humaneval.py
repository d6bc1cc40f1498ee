"""The HumanEval example (example_experiments/humaneval): left out of the main example's run,
and, when named, run end to end at a tiny size against the real local model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from e2e_support import pytest_in, sql
from pytest_crucible.scorers import Reason


def test_the_main_example_run_leaves_humaneval_out_and_naming_it_brings_it_in(
    examples: Path,
) -> None:
    everything = pytest_in(examples, "--crucible", "example_experiments", "--collect-only", "-q")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "test_capitals[" in everything.stdout and "humaneval" not in everything.stdout
    named = pytest_in(
        examples,
        "--crucible",
        "example_experiments/humaneval",
        "--collect-only",
        "-q",
        CRUCIBLE_HUMANEVAL_PROBLEMS="3",
    )
    assert named.returncode == 0, named.stdout + named.stderr
    collected = [line for line in named.stdout.splitlines() if "::test_humaneval[" in line]
    assert len(collected) == 3 * 2 * 5  # problems x prompts x the declared repeats


@pytest.mark.slow  # a real model answers 8 prompts on 2 busy cores: a minute or more
def test_the_example_runs_at_a_tiny_size_with_the_local_model(examples: Path) -> None:
    done = pytest_in(
        examples,
        "--crucible",
        "example_experiments/humaneval",
        "--crucible-repeats=2",
        CRUCIBLE_HUMANEVAL_PROBLEMS="2",
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert "8 passed" in done.stdout
    assert "humaneval-prompting" in done.stdout and "passed (binary" in done.stdout
    store = examples / ".crucible" / "crucible.db"
    trials = sql(store, "SELECT condition, item_id, status, metrics FROM trials")
    assert len(trials) == 8
    assert {row["condition"] for row in trials} == {"complete", "code_only"}
    assert len({row["item_id"] for row in trials}) == 2
    for row in trials:
        assert row["status"] == "passed"
        assert isinstance(json.loads(row["metrics"])["passed"], bool)
    # every trial's log holds the sandbox's verdict, with its reason
    logs = sql(store, "SELECT message, meta FROM logs")
    assert len(logs) == 8
    reasons = {json.loads(row["meta"])["reason"] for row in logs}
    assert reasons <= set(get_args(Reason))
