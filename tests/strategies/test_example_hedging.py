"""The hedging example (example_experiments/strategies): left out of the main example's run,
and, when named, run end to end at a small size against the stalling mock server."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import pytest_in, sql


def test_the_hedging_example_runs_when_named_and_only_then(examples: Path) -> None:
    everything = pytest_in(examples, "--crucible", "example_experiments", "--collect-only", "-q")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "test_hedging[" not in everything.stdout

    done = pytest_in(
        examples,
        "--crucible",
        "--crucible-report=none",
        "example_experiments/strategies/test_hedging.py",
        CRUCIBLE_HEDGING_ITEMS="40",
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert "120 passed" in done.stdout
    assert "latency_s p99" in done.stdout  # the aggregates, with their bootstrap intervals
    trials = sql(
        examples / ".crucible" / "crucible.db", "SELECT condition, metrics, results FROM trials"
    )
    assert len(trials) == 120
    by_condition: dict[str, list[dict[str, object]]] = {}
    for row in trials:
        by_condition.setdefault(row["condition"], []).append(json.loads(row["results"] or "{}"))
    assert sorted(by_condition) == ["adaptive", "no_hedging", "p95"]
    assert all("hedge" not in results for results in by_condition["no_hedging"])
    for condition in ("p95", "adaptive"):  # every hedged trial records its hedge
        assert all(results["hedge"]["calls"] == 1 for results in by_condition[condition])
    for row in trials:  # the recorded metric agrees with the trial's hedge record
        if row["condition"] != "no_hedging":
            backups = json.loads(row["results"])["hedge"]["backups"]
            assert json.loads(row["metrics"])["extra_request"] == (backups == 1)
