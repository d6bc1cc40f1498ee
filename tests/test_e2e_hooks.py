"""Lifecycle hooks end to end: conftest hooks and an experiment's own Hooks, where and how
often each runs (with and without xdist), what on_error answers do, misbehaving hooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import XDIST, query, trial_rows

# Every hook appends "<name> <details> <process>" to the events file.
CONFTEST = """
import os
from pathlib import Path

EVENTS = Path(os.environ["CRUCIBLE_EVENTS"])
WHERE = os.environ.get("PYTEST_XDIST_WORKER", "main")

def _event(*parts):
    with EVENTS.open("a") as f:
        f.write(" ".join(str(p) for p in (*parts, WHERE)) + "\\n")

def pytest_crucible_before_experiment(experiment, config):
    _event("before_experiment", experiment.name, config["suffix"])
    return {**config, "suffix": "!"}

def pytest_crucible_before_condition(condition, item, trial):
    _event("before_condition", condition.name, item.id, trial.spec.repeat)

def pytest_crucible_after_condition(condition, item, trial, result):
    _event("after_condition", item.id, result)

def pytest_crucible_on_error(trial, error, attempt):
    _event("on_error", trial.spec.item.id, type(error).__name__, attempt)
    if isinstance(error, KeyError):
        return "retry"  # a KeyError is permanent by default
    if isinstance(error, RuntimeError):
        return "skip"
    return None

def pytest_crucible_after_experiment(experiment, run_id, results):
    statuses = ",".join(sorted(r["status"] for r in results))
    _event("after_experiment", experiment, run_id, statuses)
"""

EXPERIMENT = """
import os
from pathlib import Path
import pytest_crucible as crucible

EVENTS = Path(os.environ["CRUCIBLE_EVENTS"])
WHERE = os.environ.get("PYTEST_XDIST_WORKER", "main")

def _event(*parts):
    with EVENTS.open("a") as f:
        f.write(" ".join(str(p) for p in (*parts, WHERE)) + "\\n")

def answer(text, suffix):
    marker = EVENTS.with_name(f"tried-{text}")
    first = not marker.exists()
    marker.touch()
    if text == "k" and first:
        raise KeyError("no answer yet")
    if text == "s":
        raise RuntimeError("this item cannot be answered")
    if text == "f":
        raise TimeoutError("slow server")
    return text.upper() + suffix

def own_before(item):  # a hook may take a subset of the arguments, like a pytest hook
    _event("own_before_condition", item.id)

def own_on_error(trial, error, attempt):
    _event("own_on_error", trial.spec.item.id, attempt)
    return "fail" if trial.spec.item.id == "f" else None  # TimeoutError would be retried

def own_after_experiment(experiment, run_id, results):
    _event("own_after_experiment", experiment, run_id, len(results))

exp = crucible.Experiment(
    name="hooked",
    dataset=[{"id": t, "input": t} for t in ("a", "k", "s", "f")],
    conditions={"plain": answer},
    metrics=["length"],
    config=crucible.ConfigSchema(suffix=crucible.Field("string", default=".")),
    error_handling=crucible.ErrorHandling(
        max_retries=2, initial_delay=0.0, jitter="none", breaker=None
    ),
    hooks=crucible.Hooks(
        before_condition=own_before,
        on_error=own_on_error,
        after_experiment=own_after_experiment,
    ),
    seed=3,
)

@exp.trial
def test_hooked(condition, item, trial):
    trial.record(length=len(condition(item.input, suffix=trial.config["suffix"])))
"""


@pytest.fixture(autouse=True)
def _not_an_outer_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hooks tell processes apart by PYTEST_XDIST_WORKER; when this suite itself runs
    under xdist, the in-process pytester session would inherit the outer worker's name."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


@pytest.fixture
def events(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = pytester.path / "events.log"
    monkeypatch.setenv("CRUCIBLE_EVENTS", str(path))
    return path


def _lines(path: Path, name: str) -> list[list[str]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.split()[1:] for line in lines if line.split()[0] == name]


@pytest.mark.parametrize("xdist", XDIST)
def test_hooks_run_where_and_as_often_as_documented(
    pytester: pytest.Pytester, events: Path, xdist: list[str]
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_hooked=EXPERIMENT)
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    result.assert_outcomes(passed=2, failed=1, skipped=1)

    # before_experiment: once in each process that collects; its config is the run's
    workers = {"main"} if not xdist else {"gw0", "gw1"}
    assert sorted(e[-1] for e in _lines(events, "before_experiment")) == sorted(workers)
    assert all(e[:2] == ["hooked", "."] for e in _lines(events, "before_experiment"))
    (run,) = query(pytester, "SELECT run_id, config, status FROM runs")
    assert json.loads(run["config"]) == {"suffix": "!"}

    rows = {r["item_id"]: r for r in trial_rows(pytester)}
    assert {k: r["status"] for k, r in rows.items()} == {
        "a": "passed",
        "k": "passed",
        "s": "skipped",
        "f": "failed",
    }
    assert rows["a"]["output"] == "A!" and rows["a"]["metrics"] == {"length": 2}
    recovery = {k: json.loads(r["recovery"]) for k, r in rows.items()}
    # on_error "retry" retried a KeyError, which the policy alone would not
    assert recovery["k"]["attempts"] == 2 and recovery["k"]["final_status"] == "success"
    assert recovery["k"]["error_history"][0]["type"] == "KeyError"
    # the experiment's own on_error answered first ("fail"): no retry of the TimeoutError
    assert recovery["f"]["attempts"] == 1 and recovery["f"]["final_status"] == "failed_permanent"
    assert rows["s"]["error"]["type"] == "RuntimeError"  # skipped, with the reason kept

    # around condition calls: once per call (not per retry), in the process that ran it
    before = _lines(events, "before_condition")
    assert sorted(e[1] for e in before) == ["a", "f", "k", "s"]
    assert {e[-1] for e in before} <= workers
    assert sorted(e[0] for e in _lines(events, "own_before_condition")) == ["a", "f", "k", "s"]
    assert sorted((e[0], e[1]) for e in _lines(events, "after_condition")) == [
        ("a", "A!"),
        ("k", "K!"),
    ]
    assert sorted(e[:3] for e in _lines(events, "on_error")) == [
        ["k", "KeyError", "1"],
        ["s", "RuntimeError", "1"],
    ]
    assert sorted(e[:2] for e in _lines(events, "own_on_error")) == [
        ["f", "1"],
        ["k", "1"],
        ["s", "1"],
    ]

    # after_experiment: once, in the process that writes the store, with the stored trials
    assert _lines(events, "after_experiment") == [
        ["hooked", run["run_id"], "failed,passed,passed,skipped", "main"]
    ]
    assert _lines(events, "own_after_experiment") == [["hooked", run["run_id"], "4", "main"]]


BAD_CONFTEST = """
def pytest_crucible_before_condition(condition, item, trial):
    if item.id == "b":
        raise ValueError(f"no quota left for {item.id}")

def pytest_crucible_on_error(trial, error, attempt):
    return "later"

def pytest_crucible_after_experiment(experiment, run_id, results):
    raise ConnectionError("cannot reach the dashboard")
"""

BAD_EXPERIMENT = """
import pytest_crucible as crucible

def answer(text):
    if text == "e":
        raise OSError("disk full")
    return text

def broken_after(condition, item, trial, result):
    if item.id == "c":
        1 / 0

exp = crucible.Experiment(
    name="misbehaving",
    dataset=[{"id": t, "input": t} for t in ("a", "b", "c", "d", "e")],
    conditions={"plain": answer},
    metrics=["ok"],
    hooks=crucible.Hooks(after_condition=broken_after),
    seed=1,
)

@exp.trial
async def test_misbehaving(condition, item, trial):
    trial.record(ok=await condition(item.input) == item.input)
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_a_hook_that_raises_fails_its_trial_with_its_name_and_spoils_nothing_else(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makeconftest(BAD_CONFTEST)
    pytester.makepyfile(test_misbehaving=BAD_EXPERIMENT)
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    result.assert_outcomes(passed=2, failed=3)
    rows = {r["item_id"]: r for r in trial_rows(pytester)}
    assert {k: r["status"] for k, r in rows.items()} == {
        "a": "passed",
        "b": "failed",
        "c": "failed",
        "d": "passed",
        "e": "failed",
    }
    assert rows["a"]["metrics"] == {"ok": True} and rows["d"]["metrics"] == {"ok": True}
    errors = {k: rows[k]["error"] for k in ("b", "c", "e")}
    assert all(e["type"] == "HookError" and e["where"] == "hook" for e in errors.values())
    assert errors["b"]["message"].startswith(
        "hook pytest_crucible_before_condition (pytest_crucible_before_condition in "
    )
    assert (
        "conftest.py) raised ValueError: no quota left for b in trial plain-b-r0 of "
        in (errors["b"]["message"])
    )
    assert errors["c"]["message"] == (
        "Hooks(after_condition=test_misbehaving.broken_after) raised ZeroDivisionError: "
        "division by zero in trial plain-c-r0 of experiment misbehaving"
    )
    assert errors["e"]["message"] == (
        "on_error hook answered 'later' in trial plain-e-r0 of experiment misbehaving; "
        "answer 'retry', 'fail', 'skip', 'abort' or None"
    )
    # the run is whole: every trial stored, the run finished, the session end says what broke
    (run,) = query(pytester, "SELECT run_id, status FROM runs")
    assert run["status"] == "completed"
    result.stdout.fnmatch_lines(
        [
            "error: hook pytest_crucible_after_experiment (pytest_crucible_after_experiment in "
            "*conftest.py) raised ConnectionError: cannot reach the dashboard for experiment "
            f"misbehaving (run {run['run_id']}); its results are stored",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("xdist", XDIST)
def test_before_experiment_must_answer_a_config(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makeconftest(
        """
def pytest_crucible_before_experiment(experiment, config):
    return "temperature=0.2"
"""
    )
    pytester.makepyfile(test_misbehaving=BAD_EXPERIMENT)
    result = pytester.runpytest("--crucible", *xdist)
    # a collection error: pytest stops (2); xdist reports it as a failure (1)
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if xdist else pytest.ExitCode.INTERRUPTED)
    result.stdout.fnmatch_lines(
        [
            "*pytest_crucible_before_experiment returned 'temperature=0.2' for experiment "
            "misbehaving; return the config as a dict, or None to keep it*"
        ]
    )
    assert not (pytester.path / ".crucible" / "crucible.db").exists() or not query(
        pytester, "SELECT * FROM trials"
    )


SUFFIXED = """
import pytest_crucible as crucible

exp = crucible.Experiment(
    name="suffixed",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(8)],
    conditions={"plain": lambda text, suffix: text + suffix},
    metrics=["length"],
    config=crucible.ConfigSchema(suffix=crucible.Field("string", default=".")),
    seed=1,
)

@exp.trial
def test_suffixed(condition, item, trial):
    trial.record(length=len(condition(item.input, suffix=trial.config["suffix"])))
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_processes_that_plan_an_experiment_differently_are_reported(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makeconftest(
        """
import os

def pytest_crucible_before_experiment(experiment, config):
    return {"suffix": os.environ.get("PYTEST_XDIST_WORKER", "-main")}  # differs per worker
"""
    )
    pytester.makepyfile(test_suffixed=SUFFIXED)
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    result.assert_outcomes(passed=8)
    suffixes = {row["output"][2:] for row in trial_rows(pytester)}
    warning = "warning: experiment suffixed: worker gw? planned it with fingerprint * another*"
    if xdist:
        assert suffixes == {"gw0", "gw1"}  # each worker planned with its own config
        result.stdout.fnmatch_lines([warning])
    else:
        assert suffixes == {"-main"}
        result.stdout.no_fnmatch_line(warning)
