"""Text UTF-8 cannot encode, and a session-end analysis that fails (issue 14, point 7).

A lone surrogate in an output once sent every trial to the rescue file (-n 0) or crashed the
run with INTERNALERROR (-n 2); an analysis child that crashed left no analysis, no reports
and no message, and its exit status 1 read as "a gate failed".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from e2e_support import EXPERIMENT, XDIST, query, store_path

_TIMEOUT_S = 180  # a whole pytest run, on 2 shared cores that may run 3x slower

SURROGATES = """
import logging
import pytest_crucible as crucible

def lone(text):
    if text == "raise":
        raise ValueError("refused \\ud800 input")
    return "ok \\ud800"

texts = crucible.Experiment(
    name="texts",
    dataset=[
        {"id": "a\\udcff", "input": "fine", "expected": "e\\ud800"},
        {"id": "b", "input": "raise"},
        {"id": "c", "input": "fine", "metadata": {"note\\udc80": "m\\ud800"}},
    ],
    conditions={"lone": lone},
    seed=3,
)

@texts.trial
def test_texts(condition, item, trial):
    logging.getLogger("user").warning("logged \\ud800")
    trial.log("info", "said \\udcff", meta="\\ud800")
    answer = condition(item.input)
    trial.record(**{"size\\ud800": len(answer)})
"""


def _output(result: pytest.RunResult) -> str:
    return result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("xdist", XDIST)
def test_lone_surrogates_are_stored_escaped_and_reach_the_reports(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_texts=SURROGATES)
    result = pytester.runpytest_subprocess("--crucible", *xdist, timeout=_TIMEOUT_S)
    output = _output(result)
    assert "INTERNALERROR" not in output
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output  # item b raised, nothing else
    assert "1 failed, 2 passed" in output
    assert "stored with backslash escapes" in output
    assert not list(store_path(pytester).parent.glob("*.rescue.jsonl")), "a trial was rescued"

    trials = {row["item_id"]: row for row in query(pytester, "SELECT * FROM trials")}
    assert sorted(trials) == ["a\\udcff", "b", "c"]  # the escape is six characters: \udcff
    assert json.loads(trials["a\\udcff"]["output"]) == "ok \\ud800"
    assert json.loads(trials["c"]["metrics"]) == {"size\\ud800": 4}
    assert "refused \\ud800 input" in json.loads(trials["b"]["error"])["message"]
    logs = [row["message"] for row in query(pytester, "SELECT message FROM logs")]
    assert "said \\udcff" in logs
    items = {row["item_id"]: row for row in query(pytester, "SELECT * FROM items")}
    assert json.loads(items["a\\udcff"]["expected"]) == "e\\ud800"
    assert json.loads(items["c"]["metadata"]) == {"note\\udc80": "m\\ud800"}

    (run,) = query(pytester, "SELECT run_id, status, analysis FROM runs")
    assert run["status"] == "completed" and run["analysis"]
    folder = pytester.path / "crucible-results" / "texts" / run["run_id"]
    for report in ("report.html", "report.md", "results.jsonl"):
        assert (folder / report).is_file(), f"{report} missing: {sorted(folder.iterdir())}"
    exported = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
    assert {row["output"] for row in exported if row["output"]} == {"ok \\ud800"}
    assert "ok \\\\ud800" in (folder / "report.html").read_text(encoding="utf-8")


def test_a_crashing_analysis_says_so_and_exits_3(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any bug in the analysis: the child (and only the child) finds a review_run that
    raises, through a sitecustomize module on its PYTHONPATH."""
    pytester.makepyfile(test_demo=EXPERIMENT)
    crash = pytester.mkdir("crash")
    crash.joinpath("sitecustomize.py").write_text(
        "import sys\n"
        "if '--await-request' in sys.argv:  # the analysis child alone\n"
        "    import pytest_crucible.review.session_end as review\n"
        "    def review_run(*args, **kwargs):\n"
        "        raise RuntimeError('injected analysis crash')\n"
        "    review.review_run = review_run\n"
    )
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(crash), os.environ.get("PYTHONPATH", "")])
    )
    result = pytester.runpytest_subprocess("--crucible", timeout=_TIMEOUT_S)
    output = _output(result)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, output
    (run,) = query(pytester, "SELECT run_id, status FROM runs")
    for line in (
        "the session-end analysis failed (`crucible analyse` exited with status 3)",
        f"run {run['run_id']} of 'demo': no analysis, no gates and no reports",
        "RuntimeError: injected analysis crash",
        f"analyse {run['run_id']}",
    ):
        assert line in output, f"{line!r} not in:\n{output}"
    assert "INTERNALERROR" not in output
    assert run["status"] == "completed"
    assert len(query(pytester, "SELECT * FROM trials")) == 12


def test_reports_that_cannot_be_written_are_named_and_exit_3(pytester: pytest.Pytester) -> None:
    """The analysis and the gates still show; the summary says which reports are missing."""
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.path.joinpath("afile").write_text("not a folder")
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-output=afile/results", timeout=_TIMEOUT_S
    )
    output = _output(result)
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR, output
    (run,) = query(pytester, "SELECT run_id, analysis FROM runs")
    assert run["analysis"], "the analysis is kept when only the reports fail"
    assert "crucible analysis:" in output
    assert (
        f"run {run['run_id']}: its reports (html, md, tex, ipynb) were not written to "
        f"{pytester.path}/afile/results/demo/{run['run_id']}/: NotADirectoryError"
    ) in output, output
    assert f"crucible report {run['run_id']} --output" in output
    assert pytester.path.joinpath("afile").read_text() == "not a folder"


@pytest.mark.parametrize("group", [True, False], ids=["ctrl-c", "sigint-to-pytest"])
def test_ctrl_c_during_the_analysis_ends_cleanly_with_every_trial_stored(
    pytester: pytest.Pytester, group: bool
) -> None:
    """Ctrl-C while the analysis child works (a terminal's reaches the whole process group;
    `kill -INT` reaches pytest alone): no traceback of ours, exit 2 (interrupted), every
    trial stored, and the command that makes the analysis later works."""
    pytester.makepyfile(test_demo=EXPERIMENT)
    marker = pytester.path / "analysing"
    slow = pytester.mkdir("slow")
    slow.joinpath("sitecustomize.py").write_text(
        "import sys, time, pathlib\n"
        "if '--await-request' in sys.argv:  # the analysis child alone: it waits, forever\n"
        "    import pytest_crucible.review.session_end as review\n"
        "    def review_run(*args, **kwargs):\n"
        f"        pathlib.Path({str(marker)!r}).write_text('now')\n"
        "        time.sleep(3600)\n"
        "    review.review_run = review_run\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(slow), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("PYTEST_ADDOPTS", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--crucible", "-p", "no:cacheprovider"],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + _TIMEOUT_S
        while not marker.exists():
            assert process.poll() is None and time.monotonic() < deadline, "no analysis began"
            time.sleep(0.05)
        if group:
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=_TIMEOUT_S)[0].decode()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "the session-end analysis was interrupted: every trial is stored" in output, output
    assert "Traceback" not in output and "pytest_crucible/" not in output, output
    (run,) = query(pytester, "SELECT run_id, status FROM runs")
    assert len(query(pytester, "SELECT * FROM trials")) == 12
    analysed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_crucible.cli",
            "--store",
            str(store_path(pytester)),
            "analyse",
            run["run_id"],
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    assert analysed.returncode == 0, analysed.stderr
    assert "terse" in analysed.stdout
