"""End to end: the runtime API a trial and an experiment declaration have (issue 16, point 3).

`trial.result(key, value)`, `trial.log_batch([...])`, `trial.cancelled`,
`Experiment(author=, version=, tags=)`, timeouts of trials and condition calls, and
`load_runs()` with every field of a run. Each runs real pytest in a subprocess, bounded by a
timeout, against a real SQLite store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import pytest_crucible as crucible
from e2e_support import XDIST, query, start_pytest, store_location, trial_rows

RUN_TIMEOUT = 180  # seconds a pytest run may take on a busy machine (they take a few)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--crucible", *args, timeout=RUN_TIMEOUT)


def _report_dir(pytester: pytest.Pytester, experiment: str) -> Path:
    (run_dir,) = (pytester.path / "crucible-results" / experiment).iterdir()
    return run_dir


RESULTS = """
import pytest_crucible as crucible

exp = crucible.Experiment(
    name="kept",
    dataset=[{"id": "a", "input": "paris"}, {"id": "b", "input": "rome"}],
    conditions={"upper": str.upper},
    metrics=["length"],
)

@exp.trial
def test_kept(condition, item, trial):
    answer = condition(item.input)
    trial.record(length=len(answer))
    trial.result("answer", {"text": answer, "letters": sorted(set(answer))})
    trial.result("verdict", "looks-right-" + item.id)
"""


def test_trial_results_are_stored_loaded_exported_and_reported(
    pytester: pytest.Pytester, store_backend: str
) -> None:
    pytester.makepyfile(test_kept=RESULTS)
    result = _run(pytester, "--crucible-report=html,md")
    assert result.ret == 0, result.stdout.str()[-3000:]
    stored = query(pytester, "SELECT item_id, results FROM trials ORDER BY item_id")
    assert json.loads(stored[0]["results"]) == {
        "answer": {"text": "PARIS", "letters": ["A", "I", "P", "R", "S"]},
        "verdict": "looks-right-a",
    }
    frame = crucible.load_trials(store=store_location(pytester))
    assert frame["results"].tolist()[1]["verdict"] == "looks-right-b"
    assert "length" in frame.columns  # beside the metrics, not among them
    reports = _report_dir(pytester, "kept")
    lines = (reports / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["results"]["answer"]["text"] == "PARIS"
    assert "looks-right-b" in (reports / "results.csv").read_text(encoding="utf-8")
    markdown = (reports / "report.md").read_text(encoding="utf-8")
    assert "2 trial(s) kept results (trial.result)" in markdown
    assert "looks-right-a" in markdown
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert "looks-right-b" in html and 'section("Results"' in html


def test_a_result_that_is_not_json_fails_its_trial_with_a_clear_message(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_kept=RESULTS.replace('trial.result("verdict", ', 'trial.result("verdict", object(), ')
        .replace(', "looks-right-" + item.id)', ")")
        .replace("object(), )", "object())")
    )
    result = _run(pytester, "--crucible-report=none")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    output = result.stdout.str()
    assert "trial.result('verdict', ...) takes JSON values" in output
    assert "pytest_crucible/run/trial.py" not in output  # the user's frames only
    rows = trial_rows(pytester)
    assert [row["status"] for row in rows] == ["failed", "failed"]
    assert "got object" in rows[0]["error"]["message"]


LOG_BATCH = """
import pytest_crucible as crucible

exp = crucible.Experiment(
    name="logged", dataset=[{"id": "a", "input": "x"}], conditions={"same": str}, metrics=["n"]
)

@exp.trial
def test_logged(condition, item, trial):
    condition(item.input)
    trial.log_batch([
        ("info", "step 1"),
        ("debug", "step 2", {"tokens": 12}),
        {"level": "WARNING", "message": "step 3", "metadata": {"retry": True}},
        {"level": "error", "message": "step 4"},
    ])
    trial.record(n=4)
"""


def test_log_batch_stores_every_entry_in_order(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_logged=LOG_BATCH)
    result = _run(pytester, "--crucible-report=none")
    assert result.ret == 0, result.stdout.str()[-3000:]
    logs = query(pytester, "SELECT level, message, meta FROM logs ORDER BY id")
    assert [(row["level"], row["message"]) for row in logs] == [
        ("info", "step 1"),
        ("debug", "step 2"),
        ("warning", "step 3"),
        ("error", "step 4"),
    ]
    assert json.loads(logs[1]["meta"]) == {"tokens": 12}
    assert json.loads(logs[2]["meta"]) == {"retry": True}


def test_a_bad_log_batch_entry_is_named_and_nothing_of_the_batch_is_kept(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_logged=LOG_BATCH.replace('("info", "step 1")', '("loud", "step 1")'))
    result = _run(pytester, "--crucible-report=none")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*trial.log_batch entry 0: level 'loud' must be one of*"])
    assert query(pytester, "SELECT * FROM logs") == []


LABELLED = """
import pytest_crucible as crucible

exp = crucible.Experiment(
    name="labelled",
    dataset=[{"id": "a", "input": "x"}, {"id": "b", "input": "y"}],
    conditions={"same": str, "upper": str.upper},
    metrics=["n"],
    description="a labelled run",
    author="Ada Lovelace",
    version="2.1",
    tags=["prompting", "h1"],
    config={"temperature": 0.5},
)

@exp.trial
def test_labelled(condition, item, trial):
    trial.record(n=len(condition(item.input)))
"""


def test_author_version_and_tags_are_stored_reported_and_loaded(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_labelled=LABELLED)
    result = _run(pytester, "--crucible-report=md")
    assert result.ret == 0, result.stdout.str()[-3000:]
    (row,) = query(pytester, "SELECT author, version, tags FROM runs")
    assert (row["author"], row["version"], json.loads(row["tags"])) == (
        "Ada Lovelace",
        "2.1",
        ["prompting", "h1"],
    )
    markdown = (_report_dir(pytester, "labelled") / "report.md").read_text(encoding="utf-8")
    assert "| **author** | Ada Lovelace |" in markdown
    assert "| **version** | 2.1 |" in markdown
    assert "| **tags** | prompting, h1 |" in markdown
    runs = crucible.load_runs(store_location(pytester))
    assert runs.loc[0, "author"] == "Ada Lovelace" and runs.loc[0, "tags"] == ["prompting", "h1"]


def test_tags_that_are_not_a_list_of_strings_are_refused_clearly(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_labelled=LABELLED.replace('["prompting", "h1"]', '"prompting"'))
    result = _run(pytester, "--crucible-report=none")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error
    result.stdout.fnmatch_lines(
        ["*experiment labelled: tags='prompting' must be a list of strings, e.g. tags=*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_load_runs_returns_every_field_a_run_records(
    pytester: pytest.Pytester, store_backend: str
) -> None:
    pytester.makepyfile(test_labelled=LABELLED)
    assert _run(pytester, "--crucible-report=none").ret == 0
    runs = crucible.load_runs(store_location(pytester))
    run = runs.iloc[0]
    for column in ("git_commit", "git_dirty", "dataset_fingerprint", "fingerprint", "seed"):
        assert column in runs.columns, column
    assert run["status"] == "completed" and run["stored_trials"] == 4
    assert run["started_at"] and run["ended_at"]
    assert run["config"] == {"temperature": 0.5}
    assert run["environment"]["python"] and "packages" in run["environment"]
    assert run["header"]["conditions"] == ["same", "upper"]
    assert run["description"] == "a labelled run" and run["version"] == "2.1"
    assert run["analysis"]["conditions"] == ["same", "upper"]


# -- trial.cancelled ---------------------------------------------------------------------

CANCELLABLE = """
import asyncio, os, pathlib
import pytest_crucible as crucible

exp = crucible.Experiment(
    name="long",
    dataset=[{"id": f"i{n}", "input": n} for n in range(8)],
    conditions={"same": lambda n: n},
    metrics=["steps"],
    concurrency=4,
)

@exp.trial
async def test_long(condition, item, trial):
    await condition(item.input)
    pathlib.Path("started", item.id).touch()
    steps = 0
    while not trial.cancelled:
        steps += 1
        await asyncio.sleep(0.02)
    trial.result("stopped_because", trial.cancel_reason)
    trial.record(steps=steps)
"""


def _wait_for_files(folder: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        if folder.exists() and len(list(folder.iterdir())) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(process.communicate()[0].decode()[-3000:])
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} trials started in {RUN_TIMEOUT} s")


@pytest.mark.parametrize("xdist", XDIST)
def test_ctrl_c_sets_trial_cancelled_and_the_trials_that_stop_early_are_stored(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    """Trials loop until `trial.cancelled`: Ctrl-C makes it true, in xdist workers too,
    so they return within the grace period and are stored with what they did (under xdist
    through the workers' journals, which `crucible import` or the next session stores)."""
    pytester.makepyfile(test_long=CANCELLABLE)
    (pytester.path / "started").mkdir()
    process = start_pytest(pytester.path, *xdist)
    try:
        _wait_for_files(pytester.path / "started", 4 if not xdist else 2, process)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output.decode()[-3000:]
    # under xdist the trials that ended after the Ctrl-C wait in the workers' journals
    crucible_command = str(Path(sys.executable).with_name("crucible"))
    subprocess.run([crucible_command, "import"], cwd=pytester.path, timeout=RUN_TIMEOUT, check=True)
    rows = trial_rows(pytester)
    assert len(rows) >= (4 if not xdist else 2), output.decode()[-3000:]
    assert all(row["status"] == "passed" for row in rows), rows
    reasons = {json.loads(row["results"])["stopped_because"] for row in rows}
    assert reasons == {"Ctrl-C: the session is stopping"}, reasons


def test_an_abort_sets_trial_cancelled_in_the_trials_in_flight(
    pytester: pytest.Pytester,
) -> None:
    """Item i0 asks the run to stop (an on_error hook answering "abort"): the trials in
    flight see `trial.cancelled`, return, and the session ends without waiting for them."""
    pytester.makepyfile(
        test_long=CANCELLABLE.replace(
            'conditions={"same": lambda n: n},',
            'conditions={"same": same},\n'
            '    hooks=crucible.Hooks(on_error=lambda trial, error, attempt: "abort"),',
        ).replace(
            "exp = crucible.Experiment(",
            "def same(n):\n"
            "    if n == 0:\n"
            "        raise RuntimeError('stop the run')\n"
            "    return n\n\n"
            "exp = crucible.Experiment(",
        )
    )
    (pytester.path / "started").mkdir()
    result = _run(pytester)
    output = result.stdout.str()
    rows = {row["item_id"]: row for row in trial_rows(pytester)}
    assert rows["i0"]["status"] == "failed", output[-3000:]
    stopped = [json.loads(r["results"]) for r in rows.values() if r["status"] == "passed"]
    assert stopped, output[-3000:]  # the trials in flight returned, and were stored
    assert all("on_error hook answered 'abort'" in s["stopped_because"] for s in stopped)


# -- timeouts ----------------------------------------------------------------------------

TIMED = """
import asyncio, os, threading, time
import pytest_crucible as crucible

NEVER = asyncio.Event  # awaited, never set

async def waits(text):
    if text == "slow" and not os.path.exists("fixed"):
        await asyncio.Event().wait()
    return text

exp = crucible.Experiment(
    name="timed",
    dataset=[{"id": "quick", "input": "quick"}, {"id": "slow", "input": "slow"}],
    conditions={"waits": waits},
    metrics=["ok"],
    timeout=5,  # the quick trial passes well within it, in a subprocess on a busy machine
)

@exp.trial
async def test_timed(condition, item, trial):
    trial.record(ok=await condition(item.input) == item.input)
"""

SYNC_TIMED = """
import os, threading, time
import pytest_crucible as crucible

def blocks(text):
    if text == "slow":
        threading.Event().wait(600)  # a sync call nothing can interrupt
    return text

exp = crucible.Experiment(
    name="timed",
    dataset=[{"id": "quick", "input": "quick"}, {"id": "slow", "input": "slow"}],
    conditions={"blocks": blocks},
    metrics=["ok"],
    timeout=5,  # the quick trial passes well within it, in a subprocess on a busy machine
)

@exp.trial
def test_timed(condition, item, trial):
    trial.record(ok=condition(item.input) == item.input)
"""


def _timed_out_rows(pytester: pytest.Pytester) -> dict[str, dict[str, object]]:
    return {row["item_id"]: row for row in trial_rows(pytester)}


@pytest.mark.parametrize("xdist", XDIST)
def test_an_async_trial_past_its_timeout_is_cancelled_stored_and_retried(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_timed=TIMED)
    result = _run(pytester, "--crucible-report=md", *xdist)
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    rows = _timed_out_rows(pytester)
    assert rows["quick"]["status"] == "passed"
    slow = rows["slow"]
    assert slow["status"] == "failed" and slow["error"]["type"] == "TrialTimeout"  # type: ignore[index]
    assert "within its timeout of 5 s (Experiment(timeout=5))" in output
    assert "timed out: 1 failed trial(s) (1 of waits) hit their timeout" in output
    markdown = (_report_dir(pytester, "timed") / "report.md").read_text(encoding="utf-8")
    assert "1 of the failed trial(s) timed out (TrialTimeout)." in markdown
    (run_id,) = [row["run_id"] for row in query(pytester, "SELECT run_id FROM runs")]
    (pytester.path / "fixed").touch()
    again = _run(pytester, f"--crucible-retry-failed={run_id}", "--crucible-report=none")
    assert again.ret == 0, again.stdout.str()[-3000:]
    assert all(row["status"] == "passed" for row in trial_rows(pytester))


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_a_sync_trial_past_its_timeout_is_left_behind_without_holding_up_the_session(
    pytester: pytest.Pytester, concurrency: str
) -> None:
    """A sync condition blocks for 10 minutes: the trial ends as timed out after 5 s, its
    thread is left to finish in the background, and pytest exits at once (the subprocess
    timeout would fail the test otherwise)."""
    pytester.makepyfile(test_timed=SYNC_TIMED)
    result = _run(pytester, "--crucible-report=none", f"--crucible-concurrency={concurrency}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-3000:]
    rows = _timed_out_rows(pytester)
    assert rows["quick"]["status"] == "passed"
    assert rows["slow"]["error"]["type"] == "TrialTimeout"  # type: ignore[index]


CONDITION_TIMEOUT = """
import httpx
import pytest_crucible as crucible

URL = "{url}"

def ask(text):
    response = httpx.post(
        URL + "/chat/completions",
        json={{"model": "mock", "messages": [{{"role": "user", "content": text}}]}},
        timeout=60,
    )
    return response.json()["choices"][0]["message"]["content"]

async def local(text):
    return text

exp = crucible.Experiment(
    name="per-condition",
    dataset=[{{"id": "a", "input": "hello"}}],
    conditions={{"remote": crucible.Condition(ask, timeout=1.0), "local": local}},
    metrics=["answered"],
)

@exp.trial
async def test_per_condition(condition, item, trial):
    trial.record(answered=bool(await condition(item.input)))
"""


def test_a_condition_timeout_ends_a_slow_model_call_and_only_that_condition_fails(
    pytester: pytest.Pytester,
) -> None:
    from pytest_crucible.testing import MockModelServer

    with MockModelServer() as server:
        server.set_latency(30.0)
        pytester.makepyfile(test_per_condition=CONDITION_TIMEOUT.format(url=server.base_url))
        started = time.monotonic()
        result = _run(pytester, "--crucible-report=none")
        took = time.monotonic() - started
    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    rows = {row["condition"]: row for row in trial_rows(pytester)}
    assert rows["local"]["status"] == "passed"
    error = rows["remote"]["error"]
    assert error["type"] == "TrialTimeout", error
    assert "condition remote did not return within its timeout of 1 s" in error["message"]
    assert took < 30, "the call was not cut at its timeout"


def test_timeouts_that_are_not_positive_numbers_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_timed=TIMED.replace("timeout=5,", 'timeout="10s",'))
    result = _run(pytester, "--crucible-report=none")
    result.stdout.fnmatch_lines(
        ["*experiment timed: timeout='10s' must be a number of seconds > 0*timeout=30*"]
    )
    assert "Traceback" not in result.stdout.str()
