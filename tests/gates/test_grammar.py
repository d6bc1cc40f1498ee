"""Gate expressions: what they mean, and the errors for what they cannot mean."""

from __future__ import annotations

import pytest

from pytest_crucible.errors import CrucibleError
from pytest_crucible.gates import Gate, GateError, parse_gate

CONDITIONS = ["terse", "few_shot"]
METRICS = ["correct", "latency_s"]


def parse(text: str, conditions: list[str] = CONDITIONS) -> Gate:
    return parse_gate(text, conditions=conditions, metrics=METRICS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("few_shot.correct.mean >= 0.80", ("few_shot", "correct", "mean", ">=", 0.8, None)),
        ("few_shot.correct.ci_low >= 0.7", ("few_shot", "correct", "ci_low", ">=", 0.7, None)),
        ("terse.latency_s.p95 <= 2", ("terse", "latency_s", "p95", "<=", 2.0, None)),
        ("few_shot.cost_usd.total <= 1.5", ("few_shot", "cost_usd", "total", "<=", 1.5, None)),
        ("few_shot.correct > .5", ("few_shot", "correct", "mean", ">", 0.5, None)),
        ("terse.latency_s.median<3", ("terse", "latency_s", "p50", "<", 3.0, None)),
        ("few_shot.correct.pass^3 >= 0.6", ("few_shot", "correct", "pass^k", ">=", 0.6, 3)),
        ("few_shot.correct.pass@2 >= 0.9", ("few_shot", "correct", "pass@k", ">=", 0.9, 2)),
        ("*.correct.flip_rate ≤ 0.1", ("*", "correct", "flip_rate", "<=", 0.1, None)),
        ("terse.correct.unstable <= 0", ("terse", "correct", "unstable", "<=", 0.0, None)),
    ],
)
def test_thresholds(text: str, expected: tuple[object, ...]) -> None:
    gate = parse(text)
    assert gate.kind == "threshold" and gate.text == text and str(gate) == text
    assert (gate.condition, gate.metric, gate.stat, gate.op, gate.value, gate.k) == expected
    assert not gate.needs_baseline


def test_comparisons_baselines_and_stability() -> None:
    beats = parse("few_shot   BEATS terse on correct at alpha 0.01")
    assert (beats.kind, beats.condition, beats.other, beats.metric, beats.alpha) == (
        "beats",
        "few_shot",
        "terse",
        "correct",
        0.01,
    )
    assert beats.text == "few_shot BEATS terse on correct at alpha 0.01"  # whitespace folded
    assert parse("few_shot beats terse on latency_s").alpha is None
    nonworse = parse("few_shot.correct not worse than baseline by 0.02")
    assert (nonworse.kind, nonworse.condition, nonworse.metric, nonworse.margin) == (
        "baseline",
        "few_shot",
        "correct",
        0.02,
    )
    assert nonworse.needs_baseline and nonworse.alpha is None
    every = parse("*.correct not worse than the baseline at alpha 0.1")
    assert (every.condition, every.margin, every.alpha) == ("*", None, 0.1)
    stable = parse("terse.correct is stable")
    assert (stable.kind, stable.condition, stable.metric) == ("stable", "terse", "correct")


def test_names_with_dots_match_the_longest_declared_name() -> None:
    conditions = ["gpt-4", "gpt-4.1"]
    gate = parse("gpt-4.1.correct.ci_low >= 0.5", conditions)
    assert (gate.condition, gate.metric, gate.stat) == ("gpt-4.1", "correct", "ci_low")
    assert parse("gpt-4.correct >= 0.5", conditions).condition == "gpt-4"
    assert parse("gpt-4.1 beats gpt-4 on correct", conditions).other == "gpt-4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fewshot.correct.mean >= 0.8", r"unknown condition 'fewshot'; the conditions are "
         r"'terse', 'few_shot'"),
        ("few_shot.corect.mean >= 0.8", r"unknown metric 'corect'; the metrics are 'correct', "
         r"'latency_s' \(or a usage column: latency_s, cost_usd"),
        ("few_shot.correct.avg >= 0.8", r"unknown statistic 'avg'; use one of mean, ci_low"),
        ("fewshot beats terse on correct", "unknown condition 'fewshot'"),
        ("few_shot beats terse on accuracy", "unknown metric 'accuracy'"),
        ("terse beats terse on correct", "compares 'terse' with itself"),
        ("few_shot.cost_usd not worse than baseline", "unknown metric 'cost_usd'"),
        ("few_shot.correct.mean not worse than baseline", r"drop '\.mean'"),
        ("few_shot.correct.p95 is stable", r"drop '\.p95'"),
        ("few_shot.cost_usd.pass^3 >= 0.5", "needs a declared 0/1 metric"),
        ("few_shot >= 0.8", "names no metric"),
        ("few_shot.correct.pass^0 >= 0.8", "k >= 1"),
        ("few_shot beats terse on correct at alpha 1.5", "alpha 1.5 must lie strictly"),
        ("few_shot.correct not worse than baseline by -0.1", "margin -0.1 must be a number >= 0"),
        ("few_shot.correct == 0.8", "cannot read the gate"),
        ("correct is good", "cannot read the gate"),
        ("   ", "empty gate expression"),
    ],
)  # fmt: skip
def test_mistakes_name_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(GateError, match=message) as raised:
        parse(text)
    assert isinstance(raised.value, CrucibleError)
    if "cannot read" in message or "empty" in message:
        assert "few_shot.correct.mean >= 0.8" in str(raised.value)  # shows the grammar
