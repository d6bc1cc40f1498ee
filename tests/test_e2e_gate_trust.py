"""Gates and exit statuses a CI job can rely on: declared gates, metrics that were never
declared, usage errors (exit 4), fully reused resumes, first runs without a baseline, gates
limited to one experiment, and the GitHub Actions workflow of docs/ci.md as written."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import EXPERIMENT, XDIST, query, read_calls

# The demo experiment without declared metrics: its gates name what the trials record.
UNDECLARED = EXPERIMENT.replace(
    'metrics={"correct": crucible.Metric(kind="binary"), "length": crucible.Metric()},', ""
)


def _with_gates(source: str, *gates: str) -> str:
    return source.replace("seed=7,", f"seed=7, gates={list(gates)!r},")


@pytest.mark.parametrize("xdist", XDIST)
def test_declared_gates_are_decided_on_recorded_metrics(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str], store_backend: str
) -> None:
    """Experiment(gates=...) alone decides the exit status; the metrics are not declared."""
    assert "metrics=" not in UNDECLARED
    gates = ("terse.correct.mean >= 0.6", "shout.correct.mean >= 0.6", "*.length.max <= 6")
    pytester.makepyfile(test_demo=_with_gates(UNDECLARED, *gates))
    result = pytester.runpytest("--crucible", "--crucible-report=none", "--junitxml=j.xml", *xdist)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=12 + 3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "gates: 3 passed, 1 failed",
            "  PASS terse.correct.mean >= 0.6: *",
            "  FAIL shout.correct.mean >= 0.6: mean 0.3333 < 0.6*",
            "  PASS terse.length.max <= 6: *",
            "  PASS shout.length.max <= 6: *",
        ]
    )
    junit = (pytester.path / "j.xml").read_text()
    assert junit.count('classname="crucible.gates.demo"') == 4
    (run,) = query(pytester, "SELECT analysis FROM runs")
    stored = json.loads(run["analysis"])["gates"]
    assert [g["passed"] for g in stored] == [True, False, True, True]


def test_a_gate_on_a_metric_no_trial_recorded_is_a_usage_error(
    pytester: pytest.Pytester, calls_file: Path
) -> None:
    pytester.makepyfile(test_demo=_with_gates(UNDECLARED, "terse.corect.mean >= 0.6"))
    result = pytester.runpytest("--crucible", "--crucible-report=none")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        [
            "error: gate 'terse.corect.mean >= 0.6': no trial recorded a metric 'corect'; "
            "the recorded metrics are 'correct', 'length' (or a usage column: *"
        ]
    )
    assert len(query(pytester, "SELECT * FROM trials")) == 12  # nothing lost


@pytest.mark.parametrize("xdist", XDIST)
def test_usage_errors_exit_4_before_any_trial_runs(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str]
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT.replace("seed=7,", "seed=7, config={'t': 1.0},"))
    cases = {
        "--crucible-gate=shuot.correct >= 0.5": "*unknown condition 'shuot'; the conditions "
        "are 'terse', 'shout'*",
        "--crucible-gate=terse.correct === 0.5": "*cannot read the gate 'terse.correct === 0.5'*",
        "--crucible-gate=other:terse.correct >= 0.5": "*'other' is not an experiment: to limit "
        "a gate to one experiment write EXPERIMENT:EXPR with one of 'demo'*",
        "--crucible-set=nope=3": "*no collected experiment has a config field 'nope'*",
        "--crucible-set=t=warm": "*t*warm*",
    }
    for option, message in cases.items():
        result = pytester.runpytest("--crucible", "--crucible-report=none", option, *xdist)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, (option, result.stdout.str()[-2000:])
        result.stdout.fnmatch_lines([message])
        assert not read_calls(calls_file), option
    declared = _with_gates(EXPERIMENT, "shuot.correct >= 0.5")
    pytester.makepyfile(test_demo=declared)
    result = pytester.runpytest("--crucible", *xdist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(
        ["*experiment demo, gates=*: gate 'shuot.correct >= 0.5': unknown condition*"]
    )
    assert not read_calls(calls_file)


@pytest.mark.parametrize("xdist", XDIST)
def test_a_fully_reused_resume_is_analysed_gated_and_saved(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str], store_backend: str
) -> None:
    """The keep-the-store CI flow: nothing left to run is not "no tests ran" (exit 5)."""
    pytester.makepyfile(test_demo=EXPERIMENT)
    assert pytester.runpytest("--crucible", "--crucible-report=none", *xdist).ret == 0
    calls = len(read_calls(calls_file))
    failing = pytester.runpytest(
        "--crucible",
        "--crucible-resume",
        "--crucible-report=md",
        "--crucible-gate=shout.correct.mean >= 0.6",
        *xdist,
    )
    assert failing.ret == pytest.ExitCode.TESTS_FAILED
    failing.stdout.fnmatch_lines(
        [
            "demo  run * (completed; 12/12 trials stored: 0 ran now, 12 reused from the "
            "resumed run)",
            "*FAIL shout.correct.mean >= 0.6: mean 0.3333 < 0.6*",
            "reports: *",
        ]
    )
    passing = pytester.runpytest(
        "--crucible",
        "--crucible-resume",
        "--crucible-report=none",
        "--crucible-gate=terse.correct.mean >= 0.6",
        "--crucible-save-baseline=main",
        *xdist,
    )
    assert passing.ret == pytest.ExitCode.OK
    (run,) = query(pytester, "SELECT run_id, status, sessions FROM runs")
    passing.stdout.fnmatch_lines(
        [
            "*PASS terse.correct.mean >= 0.6*",
            f"saved run {run['run_id']} of demo as baseline 'main': in the store's baselines "
            "table and in .crucible/baselines/main.json (commit that file)",
        ]
    )
    assert (run["status"], run["sessions"]) == ("completed", 3)
    assert len(read_calls(calls_file)) == calls  # nothing ran again


def test_resume_counts_reused_trials_not_stale_ones(
    pytester: pytest.Pytester, calls_file: Path
) -> None:
    """After one condition changed, its stored trials are not reused (their keys changed)."""
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.runpytest("--crucible", "--crucible-report=none")
    pytester.makepyfile(test_demo=EXPERIMENT.replace("return text.upper()\n", "return text\n"))
    result = pytester.runpytest("--crucible", "--crucible-report=none", "--crucible-resume")
    result.assert_outcomes(passed=6, deselected=6)
    result.stdout.fnmatch_lines(["*12/12 trials stored: 6 ran now, 6 reused from the resumed run*"])


SECOND = """
import pytest_crucible as crucible

other = crucible.Experiment(
    name="other",
    dataset=[{"id": f"q{n}", "input": n} for n in range(12)],
    conditions={"terse": lambda n: n % 3 != 0, "few_shot": lambda n: True},
    baseline="terse",
    metrics={"correct": crucible.Metric(kind="binary")},
    seed=3,
)

@other.trial
def test_other(condition, item, trial):
    trial.record(correct=bool(condition(item.input)))
"""

FIRST = SECOND.replace('name="other"', 'name="demo"').replace("other", "demo2")


def _workflow_step() -> str:
    """The pytest command of docs/ci.md's GitHub Actions workflow, as written there."""
    doc = (Path(__file__).parents[1] / "docs" / "ci.md").read_text()
    step = re.search(r"- name: Run the experiment as a gate\n\s+run: >\n(.*?)\n\n", doc, re.S)
    assert step, "docs/ci.md lost its workflow step"
    return " ".join(line.strip() for line in step.group(1).splitlines())


ON_MAIN = "${{ github.ref == 'refs/heads/main' && '--crucible-save-baseline=main' || '' }}"


def test_the_github_workflow_of_the_docs_works_as_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First run on main (no baseline yet), then a pull request; two experiments."""
    pytester.makepyfile(test_first=FIRST, test_second=SECOND)
    step = _workflow_step()
    assert step.startswith("pytest --crucible experiments/ -n 4 ") and ON_MAIN in step, step
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    def run(on_main: bool) -> pytest.RunResult:
        command = step.replace("$GITHUB_STEP_SUMMARY", str(summary)).replace("-n 4", "-n 2")
        command = command.replace(ON_MAIN, "--crucible-save-baseline=main" if on_main else "")
        arguments = shlex.split(command)[3:]  # pytest --crucible experiments/
        return pytester.runpytest("--crucible", *arguments, "--crucible-report=none")

    first = run(on_main=True)
    assert first.ret == pytest.ExitCode.OK, first.stdout.str()[-3000:]
    for name in ("demo", "other"):
        first.stdout.fnmatch_lines(
            [
                f"no baseline 'main' of experiment {name} yet (a first run?): nothing to "
                "compare with; this run is saved as baseline 'main' now",
                f"saved run * of {name} as baseline 'main'*",
            ]
        )
    saved = json.loads((pytester.path / ".crucible" / "baselines" / "main.json").read_text())
    assert sorted(saved["experiments"]) == ["demo", "other"]
    pull_request = run(on_main=False)
    assert pull_request.ret == pytest.ExitCode.OK, pull_request.stdout.str()[-3000:]
    pull_request.stdout.fnmatch_lines(
        [
            "demo against baseline 'main' (run *): PASS",
            "other against baseline 'main' (run *): PASS",
        ]
    )
    junit = (pytester.path / "crucible-junit.xml").read_text()
    assert 'classname="crucible.gates.other" name="few_shot.correct.ci_low &gt;= 0.6"' in junit
    markdown = summary.read_text()  # appended by both runs: the gates, then the comparisons
    assert "## Gates: 2 passed, 0 failed" in markdown
    assert markdown.count("against baseline 'main'") == 2
    report = subprocess.run(
        [Path(sys.executable).parent / "crucible", "report", "latest", "--formats", "md",
         "--output", "crucible-report"],
        cwd=pytester.path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "wrote" in report.stdout and (pytester.path / "crucible-report" / "report.md").exists()


def test_a_gate_can_be_limited_to_one_experiment(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_first=FIRST, test_second=SECOND)
    result = pytester.runpytest(
        "--crucible",
        "--crucible-report=none",
        "--crucible-gate=other:terse.correct.mean >= 0.9",
        "--crucible-gate=few_shot.correct.mean >= 0.9",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=48 + 2, failed=1)
    result.stdout.fnmatch_lines(["FAILED crucible::gates::other::terse.correct.mean >= 0.9*"])
    assert "crucible::gates::demo::terse" not in result.stdout.str()
