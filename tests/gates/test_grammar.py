"""Gate expressions: what they mean, and the errors for what they cannot mean."""

from __future__ import annotations

import pytest

from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.gates import (
    Gate,
    GateError,
    check_gates,
    gates_of,
    parse_gate,
    split_scope,
)

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
        ("few_shot.corect.mean >= 0.8", r"no trial recorded a metric 'corect'; the recorded "
         r"metrics are 'correct', 'latency_s' \(or a usage column: latency_s, cost_usd"),
        ("few_shot.correct.avg >= 0.8", r"unknown statistic 'avg'; use one of mean, ci_low"),
        ("fewshot beats terse on correct", "unknown condition 'fewshot'"),
        ("few_shot beats terse on accuracy", "no trial recorded a metric 'accuracy'"),
        ("terse beats terse on correct", "compares 'terse' with itself"),
        ("few_shot.cost_usd not worse than baseline", "'cost_usd' is a usage column, which"),
        ("few_shot.correct.mean not worse than baseline", r"drop '\.mean'"),
        ("few_shot.correct.p95 is stable", r"drop '\.p95'"),
        ("few_shot.cost_usd.pass^3 >= 0.5", "needs a 0/1 metric"),
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


def test_before_the_trials_are_known_any_metric_name_goes() -> None:
    """At collection the recorded metrics are not known: the grammar and the conditions are
    checked, and the metric (possibly with dots) is split from a known statistic."""
    gate = parse_gate("few_shot.acc.v2.p95 <= 1", conditions=CONDITIONS, metrics=None)
    assert (gate.condition, gate.metric, gate.stat) == ("few_shot", "acc.v2", "p95")
    plain = parse_gate("few_shot.undeclared >= 0.5", conditions=CONDITIONS, metrics=None)
    assert (plain.metric, plain.stat) == ("undeclared", "mean")
    with pytest.raises(GateError, match="unknown condition 'fewshot'"):
        parse_gate("fewshot.correct >= 0.5", conditions=CONDITIONS, metrics=None)
    with pytest.raises(GateError, match="cannot read the gate"):
        parse_gate("few_shot.correct == 0.5", conditions=CONDITIONS, metrics=None)


def test_command_line_gates_apply_to_the_experiments_they_name() -> None:
    experiments = {"a": (["terse", "few_shot"], []), "b": (["plain"], ["plain.ok >= 0.5"])}
    names = list(experiments)
    assert split_scope("b: plain.ok >= 0.9", names) == ("b", "plain.ok >= 0.9")
    assert split_scope("llama3:8b.ok >= 0.9", names) == (None, "llama3:8b.ok >= 0.9")
    line = ["terse.ok >= 0.1", "b:plain.ok >= 0.9", "*.ok >= 0"]
    assert gates_of("a", ["terse", "few_shot"], [], line, names) == ["terse.ok >= 0.1", "*.ok >= 0"]
    assert gates_of("b", ["plain"], ["plain.ok >= 0.5"], line, names) == [
        "plain.ok >= 0.5",
        "plain.ok >= 0.9",
        "*.ok >= 0",
    ]
    assert check_gates(experiments, line) == []
    problems = check_gates(experiments, ["nope.ok >= 1", "c:plain.ok >= 1", "a:plain.ok >= 1"])
    assert "applies to no experiment (a: gate 'nope.ok >= 1': unknown condition" in problems[0]
    assert "'c' is not an experiment: to limit a gate to one experiment write" in problems[1]
    assert "unknown condition 'plain'; the conditions are 'terse', 'few_shot'" in problems[2]
    (declared,) = check_gates({"a": (["terse"], ["terse.ok >> 1"])}, [])
    assert declared.startswith("experiment a, gates=[...]: cannot read the gate 'terse.ok >> 1'")
