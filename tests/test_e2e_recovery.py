"""Error recovery end to end: retries, retry records, dead letters, retry-failed, breakers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import XDIST, query, read_calls, trial_rows

# Items: "a" and "b" fail twice with a connection reset, then answer; "bad" raises a
# ValueError (permanent); "down" always times out (retryable, until the retries run out).
# BROKEN=0 turns the last two into good items. Each call appends "<item> <attempt>" to the
# calls file; a file per item counts its attempts across processes.
FLAKY = """
import os
from pathlib import Path
import pytest_crucible as crucible

CALLS = Path(os.environ["CRUCIBLE_CALLS"])

def flaky(text):
    counter = CALLS.with_name(f"attempts-{text}")
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    with CALLS.open("a") as f:
        f.write(f"{text} {n + 1}\\n")
    broken = os.environ.get("BROKEN", "1") == "1"
    if text == "bad" and broken:
        raise ValueError(f"cannot parse the answer for {text}")
    if text == "down" and broken:
        raise TimeoutError("the model server did not answer")
    if text in ("a", "b") and n < 2:
        raise ConnectionResetError(f"connection reset while answering {text}")
    return text.upper()

demo = crucible.Experiment(
    name="flaky",
    dataset=[{"id": t, "input": t, "expected": t.upper()} for t in ("a", "b", "bad", "down")],
    conditions={"flaky": flaky},
    metrics=["correct"],
    error_handling=crucible.ErrorHandling(
        max_retries=3, initial_delay=0.01, factor=2.0, jitter="none", breaker=None
    ),
    seed=5,
)

@demo.trial
def test_flaky(condition, item, trial):
    trial.record(correct=condition(item.input) == item.expected)
"""


def _recovery(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["item_id"]): json.loads(str(r["recovery"])) for r in rows}


def _dead_letters(pytester: pytest.Pytester) -> list[dict[str, object]]:
    folder = pytester.path / ".crucible" / "dead_letters"
    return [
        json.loads(line)
        for path in sorted(folder.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


@pytest.mark.parametrize("xdist", XDIST)
def test_retries_and_failures_are_recorded_and_dead_lettered(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str], store_backend: str
) -> None:
    pytester.makepyfile(test_flaky=FLAKY)
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    result.assert_outcomes(passed=2, failed=2)
    rows = trial_rows(pytester)
    assert {r["item_id"]: r["status"] for r in rows} == {
        "a": "passed",
        "b": "passed",
        "bad": "failed",
        "down": "failed",
    }
    recovery = _recovery(rows)
    for name in ("a", "b"):
        assert recovery[name]["attempts"] == 3
        assert recovery[name]["retry_delays"] == [0.01, 0.02]
        assert recovery[name]["final_status"] == "success"
        history = recovery[name]["error_history"]
        assert [(e["attempt"], e["type"], e["classification"]) for e in history] == [
            (1, "ConnectionResetError", "retry"),
            (2, "ConnectionResetError", "retry"),
        ]
    assert recovery["bad"]["final_status"] == "failed_permanent"
    assert recovery["bad"]["attempts"] == 1 and recovery["bad"]["retry_delays"] == []
    assert recovery["down"]["final_status"] == "failed_retries_exhausted"
    assert recovery["down"]["attempts"] == 4
    assert recovery["down"]["retry_delays"] == [0.01, 0.02, 0.04]
    assert [e["delay"] for e in recovery["down"]["error_history"]] == [0.01, 0.02, 0.04, None]
    # a passed trial keeps no error: its retried errors are in its recovery record
    by_item = {r["item_id"]: r for r in rows}
    assert by_item["a"]["error"] is None and by_item["a"]["output"] == "A"
    assert by_item["down"]["error"]["type"] == "TimeoutError"
    assert sorted(read_calls(calls_file)) == sorted(
        ["a 1", "a 2", "a 3", "b 1", "b 2", "b 3", "bad 1", "down 1", "down 2", "down 3", "down 4"]
    )

    (run,) = query(pytester, "SELECT run_id FROM runs")
    letters = _dead_letters(pytester)
    assert sorted(letter["item_id"] for letter in letters) == ["bad", "down"]
    for letter in letters:
        assert letter["run_id"] == run["run_id"] and letter["experiment"] == "flaky"
        assert letter["item"]["input"] == letter["item_id"]  # the full item, for context
        assert letter["error"]["type"] in ("ValueError", "TimeoutError")
        assert letter["final_status"] == recovery[letter["item_id"]]["final_status"]
        assert letter["attempts"] == recovery[letter["item_id"]]["attempts"]
    path = pytester.path / ".crucible" / "dead_letters" / f"flaky-{run['run_id']}.jsonl"
    assert path.exists()
    result.stdout.fnmatch_lines(  # shown relative to the directory pytest runs in
        [
            "dead letters: 2 trial(s) failed for good, with their context, in "
            f".crucible/dead_letters/flaky-{run['run_id']}.jsonl; run them again with "
            f"--crucible-retry-failed={run['run_id']}"
        ]
    )


@pytest.mark.parametrize("xdist", XDIST)
def test_retry_failed_runs_only_the_failed_trials_into_the_same_run(
    pytester: pytest.Pytester,
    calls_file: Path,
    xdist: list[str],
    monkeypatch: pytest.MonkeyPatch,
    store_backend: str,
) -> None:
    pytester.makepyfile(test_flaky=FLAKY)
    pytester.runpytest("--crucible", "--crucible-report=none", *xdist).assert_outcomes(
        passed=2, failed=2
    )
    (run,) = query(pytester, "SELECT run_id FROM runs")
    first = {r["item_id"]: r for r in trial_rows(pytester)}
    calls_file.unlink()
    monkeypatch.setenv("BROKEN", "0")  # the outage is over

    result = pytester.runpytest(
        "--crucible", "--crucible-report=none", "--crucible-retry-failed", *xdist
    )
    result.assert_outcomes(passed=2, deselected=0 if xdist else 2)  # xdist: workers deselect
    result.stdout.fnmatch_lines(
        [f"crucible: retrying the 2 failed trial(s) of run {run['run_id']}*"]
    )
    assert sorted(line.split()[0] for line in read_calls(calls_file)) == ["bad", "down"]
    rows = {r["item_id"]: r for r in trial_rows(pytester)}
    assert {name: row["status"] for name, row in rows.items()} == dict.fromkeys(
        ("a", "b", "bad", "down"), "passed"
    )
    assert rows["a"] == first["a"] and rows["b"] == first["b"]  # untouched
    assert rows["bad"]["attempts"] == 2 and rows["down"]["attempts"] == 2  # sessions that ran it
    assert _recovery(list(rows.values()))["down"]["final_status"] == "success"
    runs = query(pytester, "SELECT run_id, status, sessions FROM runs")
    assert runs == [{"run_id": run["run_id"], "status": "completed", "sessions": 2}]

    # nothing failed any more: nothing runs, and that is not an error
    calls_file.unlink()
    again = pytester.runpytest(
        "--crucible", "--crucible-report=none", f"--crucible-retry-failed={run['run_id']}", *xdist
    )
    assert again.ret == pytest.ExitCode.OK
    again.stdout.fnmatch_lines(
        [f"crucible: retrying the 0 failed trial(s) of run {run['run_id']}*"]
    )
    assert read_calls(calls_file) == []
    assert len(_dead_letters(pytester)) == 2  # the first session's letters stay as they were


@pytest.mark.parametrize("xdist", XDIST)
def test_retry_failed_says_what_is_wrong_with_its_arguments(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str]
) -> None:
    pytester.makepyfile(test_flaky=FLAKY)
    pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    (run,) = query(pytester, "SELECT run_id FROM runs")
    result = pytester.runpytest("--crucible", "--crucible-retry-failed", "tests/", *xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--crucible-retry-failed=tests/: no such run*'tests/' looks like a path*"
            f"--crucible-retry-failed=RUN_ID*runs of 'flaky': {run['run_id']}*"
        ]
    )
    both = pytester.runpytest("--crucible", "--crucible-resume", "--crucible-retry-failed", *xdist)
    assert both.ret == pytest.ExitCode.USAGE_ERROR
    both.stderr.fnmatch_lines(["*--crucible-resume and --crucible-retry-failed*use one*"])
    assert "Traceback" not in result.stderr.str() + both.stderr.str()


# Every process answers its first two calls, then the service goes down (while DOWN=1):
# each process reports two passed trials before its failures, so the stop is decided by the
# failures alone, whatever the interleaving of the workers.
BREAKER = """
import os, time
import pytest_crucible as crucible

_seen = [0]

def service(text):
    time.sleep(0.05)
    _seen[0] += 1
    if os.environ.get("DOWN") == "1" and _seen[0] > 2:
        raise ConnectionRefusedError(f"refused while answering {text}")
    return text

demo = crucible.Experiment(
    name="outage",
    dataset=[{"id": f"i{n:02d}", "input": f"i{n:02d}"} for n in range(40)],
    conditions={"service": service},
    metrics=["ok"],
    error_handling=crucible.ErrorHandling(
        max_retries=1,
        initial_delay=0.0,
        jitter="none",
        breaker=crucible.CircuitBreakerSettings(window=4, failure_rate=0.5, min_trials=4),
    ),
    seed=2,
)

@demo.trial
def test_outage(condition, item, trial):
    trial.record(ok=condition(item.input) == item.input)
"""


HEALTHY = """
import pytest_crucible as crucible

healthy = crucible.Experiment(
    name="healthy",
    dataset=[{"id": f"h{n}", "input": n} for n in range(10)],
    conditions={"echo": lambda n: n},
    metrics=["ok"],
    seed=1,
)

@healthy.trial
def test_healthy(condition, item, trial):
    trial.record(ok=condition(item.input) == item.input)
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_circuit_breaker_stops_its_experiment_cleanly_and_resume_finishes_it(
    pytester: pytest.Pytester, xdist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The breaker stops the experiment whose service is down; the session's other
    experiment runs to the end."""
    pytester.makepyfile(test_outage=BREAKER, test_healthy=HEALTHY)
    monkeypatch.setenv("DOWN", "1")
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "stopped: circuit breaker of experiment outage: ? of the last 4 trials failed "
            "(*% > 50%)*--crucible-resume*",
        ]
    )
    healthy = query(pytester, "SELECT status FROM trials WHERE item_id LIKE 'h%'")
    assert [r["status"] for r in healthy] == ["passed"] * 10
    runs = {r["experiment"]: r["status"] for r in query(pytester, "SELECT * FROM runs")}
    assert runs == {"outage": "interrupted", "healthy": "completed"}
    pytester.path.joinpath("test_healthy.py").unlink()  # the rest concerns outage alone
    rows = [r for r in trial_rows(pytester) if r["condition"] == "service"]
    failed = [r for r in rows if r["status"] == "failed"]
    passed = [r for r in rows if r["status"] == "passed"]
    assert len(failed) >= 3 and len(passed) >= 2
    assert len(rows) <= 30, len(rows)  # stopped early: 40 trials were planned
    for row in failed:
        record = json.loads(row["recovery"])
        assert record["final_status"] == "failed_retries_exhausted" and record["attempts"] == 2
    (run,) = query(pytester, "SELECT run_id, status FROM runs WHERE experiment = 'outage'")
    assert run["status"] == "interrupted"
    assert len(_dead_letters(pytester)) == len(failed)
    assert not list((pytester.path / ".crucible").glob("stop-*"))  # the stop file is gone

    monkeypatch.setenv("DOWN", "0")
    resumed = pytester.runpytest(
        "--crucible", "--crucible-report=none", "--crucible-resume", *xdist
    )
    resumed.assert_outcomes(passed=40 - len(passed), deselected=0 if xdist else len(passed))
    assert all(r["status"] == "passed" for r in trial_rows(pytester))
    resumed_runs = query(pytester, "SELECT run_id, status, sessions FROM runs")
    assert {"run_id": run["run_id"], "status": "completed", "sessions": 2} in resumed_runs
