"""Session end: gates decide the exit status and appear in JUnit; baselines; reports."""

from __future__ import annotations

import json

import pytest

from e2e_support import EXPERIMENT, XDIST, query


@pytest.mark.parametrize("xdist", XDIST)
def test_gates_pass_fail_exit_status_and_junit(
    pytester: pytest.Pytester, calls_file: object, xdist: list[str], store_backend: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    result = pytester.runpytest(
        "--crucible",
        "--crucible-report=none",
        "--junitxml=junit.xml",
        "--crucible-gate",
        "terse.correct.mean >= 0.6",  # 0.667: pass
        "--crucible-gate",
        "shout.correct.mean >= 0.6",  # 0.333: fail
        *xdist,
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=13, failed=1)
    result.stdout.fnmatch_lines(
        [
            "gates: 1 passed, 1 failed",
            "  PASS terse.correct.mean >= 0.6: *",
            "  FAIL shout.correct.mean >= 0.6: *",
        ]
    )
    junit = (pytester.path / "junit.xml").read_text()
    assert '<testcase classname="crucible.gates.demo" name="terse.correct.mean &gt;= 0.6"' in junit
    assert "shout.correct.mean &gt;= 0.6" in junit and "<failure" in junit
    (run,) = query(pytester, "SELECT analysis FROM runs")
    stored = json.loads(run["analysis"])["gates"]
    assert [g["passed"] for g in stored] == [True, False]


def test_declared_gate_typo_stops_the_run_before_it_starts(
    pytester: pytest.Pytester, calls_file: object
) -> None:
    pytester.makepyfile(
        test_demo=EXPERIMENT.replace("seed=7,", 'seed=7, gates=["shuot.correct >= 0.5"],')
    )
    result = pytester.runpytest("--crucible")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown condition 'shuot'*"])
    assert not calls_file.exists()  # type: ignore[attr-defined]


def test_baseline_saved_then_compared(
    pytester: pytest.Pytester, calls_file: object, store_backend: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    first = pytester.runpytest(
        "--crucible", "--crucible-report=none", "--crucible-save-baseline=main"
    )
    first.assert_outcomes(passed=12)
    assert (pytester.path / ".crucible" / "baselines" / "main.json").exists()
    # an unchanged rerun is not a regression
    same = pytester.runpytest(
        "--crucible",
        "--crucible-report=none",
        "--crucible-compare=main",
        "--crucible-margin",
        "correct=0.1",
    )
    assert same.ret == pytest.ExitCode.OK
    same.stdout.fnmatch_lines(["*PASS shout.correct noninferior*margin 0.1*"])
    # a worse condition is caught: terse now answers everything wrong
    worse = EXPERIMENT.replace("return text.upper()\n", "return text\n")
    pytester.makepyfile(test_demo=worse)
    # 3 items cannot show the drop from 0.67 to 0: inconclusive, a pass with a warning...
    lenient = pytester.runpytest("--crucible", "--crucible-report=none", "--crucible-compare=main")
    assert lenient.ret == pytest.ExitCode.OK
    lenient.stdout.fnmatch_lines(["*terse.correct*inconclusive*"])
    # ... and a failure under the strict setting
    strict = pytester.runpytest(
        "--crucible", "--crucible-report=none", "--crucible-compare=main", "--crucible-gate-strict"
    )
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    strict.stdout.fnmatch_lines(["FAILED crucible::gates::demo::terse.correct*"])
    unknown = pytester.runpytest("--crucible", "--crucible-compare=nosuch")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    unknown.stderr.fnmatch_lines(["*no baseline 'nosuch'; known baselines: main*"])


@pytest.mark.parametrize("xdist", XDIST)
def test_reports_are_written_for_the_run(
    pytester: pytest.Pytester, calls_file: object, xdist: list[str], store_backend: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    result = pytester.runpytest("--crucible", "--crucible-report=html,md", *xdist)
    result.assert_outcomes(passed=12)
    (run,) = query(pytester, "SELECT run_id FROM runs")
    folder = pytester.path / "crucible-results" / "demo" / run["run_id"]
    result.stdout.fnmatch_lines([f"reports: {folder}/"])
    assert (folder / "report.html").exists() and (folder / "report.md").exists()
    assert not (folder / "report.tex").exists()
    assert len((folder / "results.csv").read_text().splitlines()) == 13
    bad = pytester.runpytest("--crucible", "--crucible-report=html,pdf")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_flaky_items_are_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_flaky="""
        import pytest_crucible as crucible
        exp = crucible.Experiment(
            "flaky", dataset=[{"id": f"i{n}", "input": n} for n in range(4)],
            conditions={"steady": lambda n: n < 2, "coin": lambda n: n},
            metrics={"ok": crucible.Metric(kind="binary")}, repeat=3, seed=1)

        @exp.trial
        def test_flaky(condition, item, trial):
            value = condition(item.input)
            if condition.name == "coin":   # item i3 flips between repeats
                value = item.input != 3 or trial.spec.repeat != 1
            trial.record(ok=bool(value))
        """
    )
    result = pytester.runpytest("--crucible", "--crucible-report=none")
    result.assert_outcomes(passed=24)
    result.stdout.fnmatch_lines(
        [
            "stability of ok over repeats*",
            "  steady: pass^3 0.50, flip rate 0.00, 0 unstable items",
            "  coin: pass^3 0.75, flip rate 0.25, 1 unstable items: i3",
        ]
    )
