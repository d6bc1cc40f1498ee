"""End to end: declaring, collecting, running and storing an experiment."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

import pytest_crucible as crucible
from e2e_support import EXPERIMENT, XDIST, query, read_calls, store_path, trial_rows


def test_plugin_loads_by_itself(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--crucible *run experiments*", "*--crucible-resume*"])


def test_a_run_without_experiments_does_not_import_the_core(pytester: pytest.Pytester) -> None:
    """pytest loads the plugin in every run of a project that has it installed; without
    `--crucible` and without trial functions it costs an import of a few small modules."""
    pytester.makepyfile("def test_plain():\n    assert True\n")
    probe = (
        "import sys, pytest\n"
        "code = pytest.main(['-q', '-p', 'no:cacheprovider'])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pytest_crucible'))\n"
        "print('LOADED', code, loaded)\n"
    )
    result = pytester.run(sys.executable, "-c", probe)
    line = next(ln for ln in result.stdout.lines if ln.startswith("LOADED"))
    modules = [
        "pytest_crucible",
        "pytest_crucible.hookspecs",
        "pytest_crucible.plugin",
        "pytest_crucible.session",  # its core names load on first use
        "pytest_crucible.session.options",  # the options registered in every run
        "pytest_crucible.settings",  # the table of options
        "pytest_crucible.settings._option",
        "pytest_crucible.settings._space_form",
        "pytest_crucible.settings._table",
        "pytest_crucible.util",
        "pytest_crucible.util.lazy",  # the front's names load on first use
        "pytest_crucible.util.moved",  # the old import paths (one release)
        "pytest_crucible.util.names",
    ]
    assert line == f"LOADED 0 {modules}"


def test_without_flag_experiments_are_skipped_and_other_tests_run(
    pytester: pytest.Pytester, calls_file: object
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT + "\ndef test_plain():\n    assert True\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*experiment demo: run experiments with `pytest --crucible`*"])
    assert not store_path(pytester).exists()
    assert read_calls(calls_file) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("xdist", XDIST)
def test_runs_every_trial_and_stores_it(
    pytester: pytest.Pytester, calls_file: object, xdist: list[str], store_backend: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    result = pytester.runpytest("--crucible", "-v", *xdist)
    result.assert_outcomes(passed=12)
    result.stdout.re_match_lines(
        [r".*PASSED.*test_demo\[shout-b-r1\]|.*test_demo\[shout-b-r1\] PASSED"]
    )
    rows = trial_rows(pytester)
    assert len(rows) == 12
    assert {(r["condition"], r["item_id"], r["repeat"]) for r in rows} == {
        (c, i, r) for c in ("terse", "shout") for i in "abc" for r in (0, 1)
    }
    shout_b = next(r for r in rows if (r["condition"], r["item_id"]) == ("shout", "b"))
    assert shout_b["output"] == "ROME!"
    assert shout_b["metrics"] == {"correct": True, "length": 5}
    assert shout_b["status"] == "passed"
    assert shout_b["latency_s"] is not None and shout_b["latency_s"] >= 0
    assert len(read_calls(calls_file)) == 12  # type: ignore[arg-type]
    logs = query(pytester, "SELECT * FROM logs WHERE condition='shout' AND item_id='b'")
    assert len(logs) == 2 and logs[0]["message"] == "answered" and "ROME!" in logs[0]["meta"]
    # the results table: per condition, trials and the metric mean with its CI
    result.stdout.fnmatch_lines(
        [
            "*crucible results*",
            "demo  run * (completed; 12/12 trials stored: 12 ran now)",
            "condition  stored  analysed  errors*correct*length",
            "terse * 6 * 6 * 0 * 0.667 [[]*",
            "shout * 6 * 6 * 0 * 0.333 [[]*",
            "crucible analysis: 2 conditions, 3 items, vs terse, paired on items*",
            "*shout - terse*",
        ]
    )
    # the analysis is stored with the run
    (run,) = query(pytester, "SELECT analysis FROM runs")
    analysis = json.loads(run["analysis"])
    assert analysis["baseline"] == "terse"
    assert [m["name"] for m in analysis["metrics"]] == ["correct", "length"]
    (comparison,) = analysis["metrics"][1]["comparisons"]
    assert comparison["condition"] == "shout" and comparison["other"] == "terse"
    assert comparison["result"]["estimate"] == pytest.approx(1.0)


def test_n0_and_n2_store_the_same_rows(
    pytester: pytest.Pytester, calls_file: object, store_backend: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    seen = []
    for args in ([], ["-n", "2"]):
        store = f"store{len(seen)}.db"
        pytester.runpytest("--crucible", f"--crucible-store={store}", *args).assert_outcomes(
            passed=12
        )
        frame = crucible.load_trials(store=pytester.path / store)
        seen.append(
            frame[["condition", "item_id", "repeat", "trial_key", "status", "correct", "length"]]
        )
    pd.testing.assert_frame_equal(seen[0], seen[1])


def test_sync_test_function_and_decorated_conditions(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_sync="""
        import asyncio
        import pytest_crucible as crucible

        exp = crucible.Experiment("sync-demo", dataset=[{"input": 1}, {"input": 2}],
                                  metrics=["double"])

        @exp.condition
        def plain(x):
            return x * 2

        @exp.condition("awaited", version="1")
        async def awaited(x):
            await asyncio.sleep(0)
            return x * 2

        @exp.trial
        def test_sync(condition, item, trial):
            value = condition(item.input)   # an async condition is run for a sync test
            trial.record(double=value)
            assert trial.output == value
        """
    )
    result = pytester.runpytest("--crucible", "-v")
    result.assert_outcomes(passed=4)
    rows = trial_rows(pytester)
    assert sorted(r["metrics"]["double"] for r in rows) == [2, 2, 4, 4]
    # items without an id field get a stable content-hash id
    assert all(len(r["item_id"]) == 12 for r in rows)


def test_k_m_and_collect_only_work_as_usual(pytester: pytest.Pytester, calls_file: object) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    collected = pytester.runpytest("--crucible", "--collect-only", "-q")
    collected.stdout.fnmatch_lines(["test_demo.py::test_demo[[]terse-a-r0[]]", "*12 tests*"])
    assert read_calls(calls_file) == []  # type: ignore[arg-type]
    selected = pytester.runpytest("--crucible", "-k", "shout and r0")
    selected.assert_outcomes(passed=3)
    assert len(trial_rows(pytester)) == 3
    marked = pytester.runpytest("--crucible", "-m", "not slow")
    marked.assert_outcomes(passed=12)


@pytest.mark.parametrize("xdist", XDIST)
def test_progress_lines_count_done_and_failed_trials(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(
        test_many="""
        import pytest_crucible as crucible
        exp = crucible.Experiment("many", dataset=[{"id": n, "input": n} for n in range(20)],
                                  conditions={"odd": lambda n: n % 2, "one": lambda n: 1})

        @exp.trial
        def test_many(condition, item, trial):
            trial.record(value=condition(item.input))
            assert item.input != 3 or condition.name != "one"
        """
    )
    result = pytester.runpytest("--crucible", "-v", *xdist)  # -v: a row per trial
    result.assert_outcomes(passed=39, failed=1)
    # a line on the way (each tenth of the trials; under xdist the count may have passed the
    # tenth by the time the controller hears of it: 5/40 rather than 4/40), then the last
    result.stdout.re_match_lines(
        [r"crucible: many: ([1-9]|[1-3][0-9])/40 trials done, [01] failed, .*elapsed"]
    )
    result.stdout.re_match_lines([r"crucible: many: 40/40 trials done, 1 failed, 0 in flight"])


def test_trial_fixtures_outside_a_trial_function_explain_themselves(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_other(trial):\n    pass\n")
    result = pytester.runpytest("--crucible")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixtures condition, item and trial exist only in a trial*"])


def test_user_fixtures_see_the_same_trial_and_may_override_item(
    pytester: pytest.Pytester,
) -> None:
    """The session hands a trial function its `condition`, `item` and `trial` without the
    fixture machinery; a user fixture that asks for `trial` still gets the same object, and
    a conftest fixture named like one of them still takes precedence."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def judge(trial):
            return trial

        @pytest.fixture
        def item():
            return "the user's item"
        """
    )
    pytester.makepyfile(
        """
        import pytest_crucible as crucible

        exp = crucible.Experiment(
            "mine", dataset=[{"id": "a", "input": 1}, {"id": "b", "input": 2}],
            conditions={"double": lambda x: 2 * x}, metrics=["ok"], seed=1,
        )

        @exp.trial
        def test_mine(condition, item, trial, judge):
            assert judge is trial
            assert item == "the user's item"
            trial.record(ok=condition(3) == 6)
        """
    )
    pytester.runpytest("--crucible", "-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_stopping_early_marks_the_run_interrupted(
    pytester: pytest.Pytester, calls_file: object
) -> None:
    failing_b = "length=len(answer))\n    assert item.id != 'b'"
    pytester.makepyfile(test_demo=EXPERIMENT.replace("length=len(answer))", failing_b))
    result = pytester.runpytest("--crucible", "-x")
    result.assert_outcomes(passed=2, failed=1)
    assert query(pytester, "SELECT status FROM runs") == [{"status": "interrupted"}]
    assert len(trial_rows(pytester)) == 3


@pytest.mark.parametrize("xdist", XDIST)
def test_sampled_experiment_is_the_same_on_every_worker(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(
        test_sample="""
        import pytest_crucible as crucible
        exp = crucible.Experiment("sampled", dataset=[{"id": n, "input": n} for n in range(50)],
                                  conditions={"same": lambda n: n}, sample=7, seed=11)

        @exp.trial
        def test_sample(condition, item, trial):
            trial.record(value=condition(item.input))
        """
    )
    result = pytester.runpytest("--crucible", *xdist)
    result.assert_outcomes(passed=7)
    items = sorted(int(r["item_id"]) for r in trial_rows(pytester))
    assert items == sorted(int(i.id) for i in _sample_of_50(7, seed=11))


def _sample_of_50(n: int, seed: int) -> tuple[crucible.Item, ...]:
    data = crucible.datasets.from_records([{"id": i, "input": i} for i in range(50)])
    return data.sample(n, seed=seed).items


def test_a_run_whose_every_trial_failed_still_gets_its_summary(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest_crucible as crucible

        def down(x):
            raise RuntimeError("service down")

        exp = crucible.Experiment(
            "allfail", [{"id": str(i), "input": i} for i in range(3)],
            conditions={"a": down, "b": down}, baseline="a", metrics=["ok"],
        )

        @exp.trial
        def test_all(condition, item, trial):
            trial.record(ok=condition(item.input) > 0)
        """
    )
    result = pytester.runpytest("--crucible", "--crucible-report=md")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # not a usage error
    result.assert_outcomes(failed=6)
    result.stdout.fnmatch_lines(
        ["allfail  run * (completed; 6/6 trials stored*", "a * 3 * 0 * 3 *", "b * 3 * 0 * 3 *"]
    )
    assert list(pytester.path.glob("crucible-results/allfail/*/report.md"))
