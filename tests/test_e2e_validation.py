"""Metric validation end to end: coercion, nested maps, defaults, and the three on_invalid
policies (log, retry, abort), checked in the store."""

from __future__ import annotations

import json

import pytest

from e2e_support import XDIST, query, trial_rows

# The scorer returns the metrics of an item; "late" is invalid the first time only. Each
# call is counted in a file per item (across processes). ON_INVALID chooses the policy.
SCORED = """
import os, time
from pathlib import Path
import pytest_crucible as crucible
from pytest_crucible.declare.validation import count, duration_ms, nested, probability

TRIES = Path(os.environ["CRUCIBLE_CALLS"]).parent
GOOD = {"accuracy": "0.85", "tokens": "12", "scores": {"rouge": 0.4, "bleu": "0.3"}}
SCORES = {
    "good": [GOOD],
    "pct": [{**GOOD, "accuracy": "85%"}],
    "wild": [{**GOOD, "accuracy": 1.7}],
    "late": [{**GOOD, "accuracy": 2.5}, {**GOOD, "accuracy": 0.6}],
}

def scorer(text):
    time.sleep(float(os.environ.get("SCORER_SLEEP", "0")))
    counter = TRIES / f"tries-{text}"
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    answers = SCORES.get(text, [GOOD])
    return answers[min(n, len(answers) - 1)]

ITEMS = os.environ.get("ITEMS", "good,pct,wild,late").split(",")

exp = crucible.Experiment(
    name="scored",
    dataset=[{"id": t, "input": t} for t in ITEMS],
    conditions={"scorer": scorer},
    metrics=["accuracy", "tokens"],
    validation=crucible.MetricValidation(
        {
            "accuracy": probability(),
            "tokens": count(),
            "scores": nested(rouge=probability(), bleu=probability()),
            "latency_ms": duration_ms(default=0.0),
        },
        on_invalid=os.environ.get("ON_INVALID", "log"),
        coerce=True,
    ),
    error_handling=crucible.ErrorHandling(
        max_retries=2, initial_delay=0.0, jitter="none", breaker=None
    ),
    seed=4,
)

@exp.trial
def test_scored(condition, item, trial):
    trial.record(**condition(item.input))
"""

CLEAN = {
    "accuracy": 0.85,
    "tokens": 12,
    "scores.rouge": 0.4,
    "scores.bleu": 0.3,
    "latency_ms": 0.0,
}


@pytest.fixture
def scored(pytester: pytest.Pytester, calls_file: object) -> None:
    pytester.makepyfile(test_scored=SCORED)


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.usefixtures("scored")
def test_log_coerces_flattens_fills_defaults_and_drops_what_is_invalid(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    result.assert_outcomes(passed=4)
    rows = {r["item_id"]: r for r in trial_rows(pytester)}
    assert rows["good"]["metrics"] == CLEAN  # "0.85" -> 0.85, "12" -> 12, a map flattened
    assert rows["pct"]["metrics"] == CLEAN  # "85%" is a probability of 0.85
    assert isinstance(rows["good"]["metrics"]["tokens"], int)
    without_accuracy = {k: v for k, v in CLEAN.items() if k != "accuracy"}
    assert rows["wild"]["metrics"] == without_accuracy  # dropped, the trial still passed
    assert rows["late"]["metrics"] == without_accuracy  # "log" does not retry
    message = "trial scorer-wild-r0 of experiment scored: metric 'accuracy' = 1.7 breaks max 1.0"
    assert json.loads(rows["wild"]["warnings"]) == [message]
    assert json.loads(rows["good"]["warnings"]) == []
    logged = query(pytester, "SELECT message FROM logs WHERE item_id = 'wild'")
    assert [row["message"] for row in logged] == [message]
    result.stdout.fnmatch_lines([f"warning: scored scorer-wild-r0: {message}"])


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.usefixtures("scored")
def test_retry_runs_the_trial_again_until_its_metrics_are_valid(
    pytester: pytest.Pytester, xdist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ON_INVALID", "retry")
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    result.assert_outcomes(passed=3, failed=1)
    rows = {r["item_id"]: r for r in trial_rows(pytester)}
    assert rows["late"]["status"] == "passed"
    assert rows["late"]["metrics"] == {**CLEAN, "accuracy": 0.6}
    late = json.loads(rows["late"]["recovery"])
    assert late["attempts"] == 2 and late["final_status"] == "success"
    (entry,) = late["error_history"]
    assert entry["type"] == "MetricValidationError" and entry["classification"] == "retry"
    assert (
        "trial scorer-late-r0 of experiment scored: metric 'accuracy' = 2.5 breaks max 1.0"
        in (entry["message"])
    )
    assert rows["late"]["calls"] == 2 and rows["late"]["output"]["accuracy"] == 0.6
    # always invalid: rerun until the retries ran out, then failed (and dead-lettered)
    wild = json.loads(rows["wild"]["recovery"])
    assert rows["wild"]["status"] == "failed"
    assert wild["attempts"] == 3 and wild["final_status"] == "failed_retries_exhausted"
    assert rows["wild"]["error"]["type"] == "MetricValidationError"
    assert (pytester.path / "tries-wild").read_text() == "3"
    assert json.loads(rows["good"]["recovery"])["attempts"] == 1
    letters = list((pytester.path / ".crucible" / "dead_letters").glob("scored-*.jsonl"))
    assert [json.loads(line)["item_id"] for line in letters[0].read_text().splitlines()] == ["wild"]


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.usefixtures("scored")
def test_abort_stops_the_run_cleanly_and_names_the_problem(
    pytester: pytest.Pytester, xdist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    items = ["good", "pct", "wild"] + [f"x{n:02d}" for n in range(27)]
    monkeypatch.setenv("ITEMS", ",".join(items))
    monkeypatch.setenv("ON_INVALID", "abort")
    monkeypatch.setenv("SCORER_SLEEP", "0.05")
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the experiment stopped, not pytest
    problem = "trial scorer-wild-r0 of experiment scored: metric 'accuracy' = 1.7 breaks max 1.0"
    result.stdout.fnmatch_lines(
        [f"stopped: metric validation (on_invalid='abort'): {problem} (on_invalid=abort)*"]
    )
    rows = {r["item_id"]: r for r in trial_rows(pytester)}
    assert rows["wild"]["status"] == "failed"
    assert rows["wild"]["error"]["type"] == "MetricValidationError"
    assert rows["wild"]["error"]["message"] == f"{problem} (on_invalid=abort)"
    assert rows["good"]["status"] == "passed" and rows["good"]["metrics"] == CLEAN
    assert len(rows) < len(items), len(rows)  # stopped before the end
    (run,) = query(pytester, "SELECT status FROM runs")
    assert run["status"] == "interrupted"  # resumable
