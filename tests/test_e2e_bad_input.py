"""Bad input: a clear message, no traceback from our internals, no stored result lost."""

from __future__ import annotations

import sqlite3

import pytest

from e2e_support import EXPERIMENT, XDIST, query, store_path, trial_rows


def _experiment(**fields: str) -> str:
    """A small experiment whose Experiment(...) arguments can be replaced one by one."""
    arguments = {
        "name": '"bad"',
        "dataset": '[{"id": "x", "input": 1}, {"id": "y", "input": 2}]',
        "conditions": '{"a": lambda v: v, "b": lambda v: v + 1}',
        "metrics": '["score"]',
    } | fields
    body = ", ".join(f"{k}={v}" for k, v in arguments.items())
    return f"""
import pytest_crucible as crucible
exp = crucible.Experiment({body})

@exp.trial
def test_bad(condition, item, trial):
    trial.record(score=condition(item.input))
"""


def _assert_clean_error(result: pytest.RunResult, *patterns: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert result.ret != 0
    for pattern in patterns:
        assert pattern in output, f"{pattern!r} not in output:\n{output}"
    assert "pytest_crucible/" not in output, "a traceback from our internals leaked"


@pytest.mark.parametrize("xdist", XDIST)
def test_duplicate_item_ids_are_named(pytester: pytest.Pytester, xdist: list[str]) -> None:
    dataset = '[{"id": "x", "input": 1}, {"id": "y", "input": 2}, {"id": "x", "input": 3}]'
    pytester.makepyfile(test_bad=_experiment(dataset=dataset))
    result = pytester.runpytest("--crucible", *xdist)
    _assert_clean_error(result, "item ids repeat", "'x' at records 1, 3")


def test_missing_dataset_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad=_experiment(dataset='crucible.datasets.jsonl("nope.jsonl")'))
    result = pytester.runpytest("--crucible")
    _assert_clean_error(result, "dataset file nope.jsonl does not exist")


def test_malformed_jsonl_line_is_named(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("data.jsonl").write_text('{"id": "x", "input": 1}\n{"id": "y", \n')
    pytester.makepyfile(
        test_bad=_experiment(dataset='crucible.datasets.jsonl("data.jsonl", id="id")')
    )
    result = pytester.runpytest("--crucible")
    _assert_clean_error(result, "data.jsonl, line 2: not valid JSON")


def test_baseline_that_is_not_a_condition(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad=_experiment(baseline='"c"'))
    result = pytester.runpytest("--crucible")
    _assert_clean_error(result, "baseline='c' is not a condition", "['a', 'b']")


@pytest.mark.parametrize("xdist", XDIST)
def test_crucible_set_unknown_key_and_invalid_value(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    schema = 'crucible.ConfigSchema(temperature=crucible.Field("float", default=0.0, min=0, max=2))'
    pytester.makepyfile(test_bad=_experiment(config=schema))
    unknown = pytester.runpytest("--crucible", "--crucible-set", "temprature=1", *xdist)
    _assert_clean_error(
        unknown, "no collected experiment has a config field 'temprature'", "'temperature'"
    )
    invalid = pytester.runpytest("--crucible", "--crucible-set", "temperature=9", *xdist)
    _assert_clean_error(invalid, "config field 'temperature' = 9.0 is above max 2")
    text = pytester.runpytest("--crucible", "--crucible-set", "temperature=hot", *xdist)
    _assert_clean_error(
        text, "config field 'temperature' must be of type float", "cannot read 'hot'"
    )
    no_equals = pytester.runpytest("--crucible", "--crucible-set", "temperature")
    _assert_clean_error(no_equals, "expected KEY=VALUE")


def test_crucible_set_reaches_the_trial_and_the_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_cfg="""
        import pytest_crucible as crucible
        from pydantic import BaseModel

        class Settings(BaseModel):
            prefix: str = "a"
            times: int = 1

        exp = crucible.Experiment("cfg", dataset=[{"id": "x", "input": "v"}],
                                  conditions={"c": lambda v: v}, config=Settings)

        @exp.trial
        def test_cfg(condition, item, trial):
            assert isinstance(trial.config, Settings)
            trial.record(size=len(trial.config.prefix * trial.config.times))
        """
    )
    result = pytester.runpytest(
        "--crucible", "--crucible-set", "cfg.times=3", "--crucible-set", "prefix=ab"
    )
    result.assert_outcomes(passed=1)
    assert trial_rows(pytester)[0]["metrics"] == {"size": 6}
    assert query(pytester, "SELECT config FROM runs")[0]["config"] == '{"prefix": "ab", "times": 3}'
    bad = pytester.runpytest("--crucible", "--crucible-set", "times=many")
    _assert_clean_error(bad, "field 'times'", "many")


@pytest.mark.parametrize("xdist", XDIST)
def test_metric_problems_fail_the_trial_with_a_message(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(
        test_metrics="""
        import pytest_crucible as crucible
        exp = crucible.Experiment("m", dataset=[{"id": "x", "input": 1}],
                                  conditions={"text": lambda v: "high", "none": lambda v: None,
                                              "ok": lambda v: 0.5},
                                  metrics=["score", "extra"])

        @exp.trial
        def test_m(condition, item, trial):
            value = condition(item.input)
            if value is not None:
                trial.record(score=value, extra=1)
        """
    )
    result = pytester.runpytest("--crucible", *xdist)
    result.assert_outcomes(passed=1, failed=2)
    output = result.stdout.str()
    assert "metric 'score' = 'high' (str) is not a number or a bool" in output
    assert "did not record the declared metric(s) ['score', 'extra']" in output
    rows = {r["condition"]: r for r in trial_rows(pytester)}
    assert rows["ok"]["status"] == "passed"
    assert rows["text"]["status"] == "failed" and rows["text"]["error"]["type"] == "MetricError"
    assert rows["none"]["error"]["message"].startswith("trial none-x-r0 of experiment m did not")


@pytest.mark.parametrize("xdist", XDIST)
def test_condition_that_raises_is_a_failed_trial_with_its_error(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(
        test_raise="""
        import pytest_crucible as crucible

        def broken(v):
            raise RuntimeError(f"model refused {v}")

        exp = crucible.Experiment("r", dataset=[{"id": "x", "input": 1}],
                                  conditions={"broken": broken, "fine": lambda v: v})

        @exp.trial
        def test_r(condition, item, trial):
            trial.record(value=condition(item.input))
        """
    )
    result = pytester.runpytest("--crucible", *xdist)
    result.assert_outcomes(passed=1, failed=1)
    rows = {r["condition"]: r for r in trial_rows(pytester)}
    error = rows["broken"]["error"]
    assert error["type"] == "RuntimeError" and error["message"] == "model refused 1"
    assert error["where"] == "condition" and "raise RuntimeError" in error["traceback"]
    assert rows["broken"]["calls"] == 1 and rows["fine"]["output"] == 1


def test_output_that_is_not_json_is_stored_as_repr_with_a_warning(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_repr="""
        import pytest_crucible as crucible

        class Answer:
            def __repr__(self):
                return "Answer(42)"

        exp = crucible.Experiment("o", dataset=[{"id": "x", "input": 1}],
                                  conditions={"obj": lambda v: Answer()})

        @exp.trial
        def test_o(condition, item, trial):
            condition(item.input)
            trial.record(value=1)
        """
    )
    result = pytester.runpytest("--crucible")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*warning: o obj-x-r0: output of type Answer is not JSON*"])
    assert trial_rows(pytester)[0]["output"] == "Answer(42)"


def test_corrupt_store_is_refused_and_left_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    store = store_path(pytester)
    store.parent.mkdir()
    store.write_bytes(b"this is not a database" * 100)
    result = pytester.runpytest("--crucible")
    _assert_clean_error(result, "is not a readable SQLite database", "Move it aside")
    assert store.read_bytes() == b"this is not a database" * 100


def test_store_from_a_newer_schema_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    store = store_path(pytester)
    store.parent.mkdir()
    with sqlite3.connect(store) as conn:
        conn.execute("PRAGMA user_version = 99")
    result = pytester.runpytest("--crucible")
    _assert_clean_error(result, "schema version 99", "upgrade pytest-crucible")


def test_locked_store_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.runpytest("--crucible").assert_outcomes(passed=12)
    holder = sqlite3.connect(store_path(pytester), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = pytester.runpytest("--crucible", "--crucible-resume")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _assert_clean_error(result, "is locked by another process")
    assert len(trial_rows(pytester)) == 12
