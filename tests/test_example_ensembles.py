"""The ensembles example (example_experiments/strategies): left out of the main example's
run, and, when named, run end to end at a small size against the mock model server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import pytest_in, sql


def test_the_main_example_run_leaves_the_ensembles_out(examples: Path) -> None:
    everything = pytest_in(examples, "--crucible", "example_experiments", "--collect-only", "-q")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "test_capitals[" in everything.stdout
    assert "test_ensemble_size" not in everything.stdout


def test_the_ensembles_example_runs_small_with_paired_statistics(examples: Path) -> None:
    done = pytest_in(
        examples,
        "--crucible",
        "example_experiments/strategies/test_ensembles.py",
        CRUCIBLE_ENSEMBLE_ITEMS="8",
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert " 24 passed" in done.stdout
    for line in ("majority_of_3 - single", "majority_of_5 - single", "cost per trial"):
        assert line in done.stdout, output[-5000:]
    store = examples / ".crucible" / "crucible.db"
    trials = sql(store, "SELECT condition, results, cost_usd, metrics FROM trials")
    assert len(trials) == 24
    sizes = {"single": 1, "majority_of_3": 3, "majority_of_5": 5}
    for row in trials:
        record = json.loads(row["results"])["ensemble"]
        assert record["members_called"] == record["members_total"] == sizes[row["condition"]]
        assert record["cost_usd"] == pytest.approx(row["cost_usd"])
        assert json.loads(row["metrics"])["correct"] in (True, False, 0, 1)
