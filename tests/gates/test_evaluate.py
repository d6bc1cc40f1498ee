"""evaluate_gates: each gate PASS or FAIL with the right number, test and explanation."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from gate_helpers import frame, header

from pytest_crucible.declare.metrics import Metric
from pytest_crucible.review.analysis import analyze
from pytest_crucible.review.gates import (
    Baseline,
    GateError,
    GateResult,
    evaluate_gates,
    format_markdown,
    format_text,
    parse_gate,
)

HEADER = header(items=40)


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    accuracy = {"terse": np.full(40, 0.5), "few_shot": np.full(40, 0.9)}
    latency = {"terse": np.full(40, 1.0), "few_shot": np.full(40, 2.0)}
    data = frame(rng, accuracy, latency=latency)
    data["cost_usd"] = 0.01
    data.loc[data.index[:6], "status"] = "failed"  # terse's first two items: failed trials
    data.loc[data.index[:6], ["correct", "latency"]] = np.nan
    return data


def run(gates: list[str], trials: pd.DataFrame, **kwargs: Any) -> list[GateResult]:
    return evaluate_gates(gates, trials, header=HEADER, **kwargs)


def passed_values(trials: pd.DataFrame, condition: str, column: str) -> np.ndarray:
    rows = trials[(trials.condition == condition) & (trials.status == "passed")]
    return rows[column].to_numpy(dtype=float)


def test_thresholds_on_estimates_and_intervals(trials: pd.DataFrame) -> None:
    analysis = analyze(
        trials,
        conditions=["terse", "few_shot"],
        baseline="terse",
        metrics={"correct": Metric(kind="binary")},
    )
    few = next(c for c in analysis.metrics[0].conditions if c.condition == "few_shot")
    results = run(["few_shot.correct.mean >= 0.8", "few_shot.correct.ci_low >= 0.99"], trials)
    mean, low = results
    assert (mean.passed, mean.observed, mean.threshold) == (True, pytest.approx(few.mean), 0.8)
    assert (low.passed, low.observed) == (False, pytest.approx(few.ci[0]))
    assert "95% CI lower bound of 40 items' means" in low.test
    assert low.explanation.startswith(f"ci_low {few.ci[0]:.4g} < 0.99") and "FAIL" in low.line()
    # with an analysis given, its numbers are used (they are what the results table shows)
    stored = json.loads(json.dumps(analysis.to_dict()))
    stored["metrics"][0]["conditions"][1]["mean"] = 0.5
    assert [r.observed for r in run(["few_shot.correct >= 0.8"], trials, analysis=stored)] == [0.5]
    assert run(["few_shot.correct >= 0.8"], trials, analysis=analysis)[0].observed == few.mean


def test_thresholds_on_distributions_and_totals(trials: pd.DataFrame) -> None:
    latency = passed_values(trials, "terse", "latency")
    results = run(
        [
            "terse.latency.p95 <= 1.2",
            "terse.latency.p50 > 0",
            "terse.latency.max < 9",
            "terse.latency.min > 0",
            "terse.latency.sd < 1",
            "terse.cost_usd.total <= 1",
            "terse.latency.total > 0",
        ],
        trials,
    )
    p95, p50, top, bottom, sd, cost, total = results
    assert p95.observed == pytest.approx(np.percentile(latency, 95))
    assert p95.test == f"95th percentile of {latency.size} passed trials"
    assert p50.observed == pytest.approx(np.median(latency))
    assert (top.observed, bottom.observed) == (latency.max(), latency.min())
    assert sd.observed == pytest.approx(latency.std(ddof=1))
    assert cost.observed == pytest.approx(0.01 * 120)  # failed trials cost too
    assert cost.test == "sum over 120 trials, passed and failed"
    assert total.observed == pytest.approx(latency.sum())  # a metric: passed trials only


def test_stability_gates(trials: pd.DataFrame) -> None:
    results = run(
        [
            "terse.correct is stable",
            "few_shot.correct.pass^3 >= 0.5",
            "few_shot.correct.pass@3 >= 0.99",
            "*.correct.flip_rate <= 1",
            "terse.correct.unstable <= 100",
            "terse.latency.pass^3 >= 0.5",
        ],
        trials,
    )
    stable, hat, at, flips_terse, flips_few, unstable, continuous = results
    assert not stable.passed and "items flip between repeats" in stable.explanation
    assert stable.details["unstable_items"] and stable.observed == len(
        stable.details["unstable_items"]
    )
    assert hat.passed and hat.test == "pass^3 over 40 items" and 0.5 <= (hat.observed or 0) < 1
    assert at.passed and at.observed == 1.0
    assert [flips_terse.name, flips_few.name] == [
        "terse.correct.flip_rate <= 1",
        "few_shot.correct.flip_rate <= 1",
    ]
    assert unstable.observed == stable.observed
    assert not continuous.passed and "not 0/1" in continuous.explanation


def test_beats(trials: pd.DataFrame) -> None:
    better, worse, faster, slower = run(
        [
            "few_shot beats terse on correct",
            "terse beats few_shot on correct at alpha 0.2",
            "terse beats few_shot on latency",
            "few_shot beats terse on latency",
        ],
        trials,
    )
    assert better.passed and (better.p_value or 1) < 1e-4 and better.details["n_items"] == 38
    assert "one-sided (higher is better" in better.test
    assert not worse.passed and "> alpha 0.2 -> FAIL" in worse.explanation
    assert faster.passed and "lower is better" in faster.test
    assert not slower.passed


def test_baseline_gates(trials: pd.DataFrame) -> None:
    with pytest.raises(GateError, match="none was given; run with --crucible-compare"):
        run(["few_shot.correct not worse than baseline by 0.05"], trials)
    passed = trials[trials.status == "passed"]
    regressed = passed.assign(correct=np.where(passed.condition == "few_shot", 0.0, 1.0))
    baseline = Baseline.from_trials(regressed, HEADER, name="main")
    # the current run is far better than this baseline on few_shot, far worse on terse
    results = run(
        ["*.correct not worse than baseline by 0.05", "few_shot.correct not worse than baseline"],
        trials,
        baseline=baseline,
        margins={"correct": 0.5},
    )
    terse, few, few_default = results
    assert terse.name == "terse.correct not worse than baseline by 0.05"
    assert (terse.verdict, terse.passed) == ("regression", False)
    assert (few.verdict, few.passed) == ("noninferior", True)
    assert few.details["margin"] == 0.05 and few_default.details["margin"] == 0.5
    only_few = Baseline.from_trials(regressed[regressed.condition == "few_shot"], HEADER, name="b")
    missing = run(["terse.correct not worse than baseline"], trials, baseline=only_few)
    assert not missing[0].passed and "no passed 'correct' values" in missing[0].explanation


def test_missing_values_fail_with_a_reason(trials: pd.DataFrame) -> None:
    gone = trials.assign(status=np.where(trials.condition == "terse", "failed", trials.status))
    mean, p95, beats = run(
        ["terse.correct.mean >= 0", "terse.latency.p95 <= 9", "few_shot beats terse on correct"],
        gone,
    )
    assert not mean.passed and "no value: terse has no passed trial" in mean.explanation
    assert not p95.passed and p95.observed is None
    assert not beats.passed and "no passed trial of ['terse']" in beats.explanation


def test_gate_objects_strings_and_reports(trials: pd.DataFrame) -> None:
    gate = parse_gate("few_shot.correct >= 0.5", conditions=["few_shot"], metrics=["correct"])
    with pytest.raises(GateError, match="unknown condition 'fewshot'"):
        run(["fewshot.correct >= 0.5"], trials)
    results = run([gate, "terse.correct.mean >= 0.99"], trials)
    assert [r.status for r in results] == ["PASS", "FAIL"]
    text = format_text(results)
    assert text.splitlines()[0] == "gates: 1 passed, 1 failed"
    assert "  FAIL terse.correct.mean >= 0.99: mean " in text
    markdown = format_markdown(results)
    assert markdown.startswith("## Gates: 1 passed, 1 failed")
    assert "| **PASS** | `few_shot.correct >= 0.5` |" in markdown
    assert json.dumps([r.to_dict() for r in results], allow_nan=False)
    with pytest.raises(GateError, match="must be a pandas DataFrame"):
        evaluate_gates([gate], {"condition": []})  # type: ignore[arg-type]
