"""Declared metric scorers on a `Trial` without pytest in between: what is scored, what is
skipped, and the messages of a scorer that fails or returns what no metric can hold."""

from __future__ import annotations

import asyncio
import functools

import pytest

import pytest_crucible as crucible
from pytest_crucible import scorers
from pytest_crucible.errors import ExperimentError, MetricError
from pytest_crucible.run.trial import Trial


def _trial(**metrics: crucible.Metric) -> Trial:
    experiment = crucible.Experiment(
        "declared",
        dataset=[{"id": "x", "input": "Paris", "expected": ["paris", "Paris, France"]}],
        conditions={"echo": lambda text: text},
        metrics=metrics,
    )
    plan = experiment.plan()
    return Trial(plan.trials[0], plan)


def test_scorers_fill_unrecorded_metrics_from_the_last_output() -> None:
    trial = _trial(
        correct=crucible.Metric(kind="binary", scorer=scorers.exact_match),
        strict=crucible.Metric(
            kind="binary", scorer=functools.partial(scorers.exact_match, case=False)
        ),
        kept=crucible.Metric(scorer=scorers.token_f1),
    )
    trial.note_call("first answer", 0.1)
    trial.note_call("PARIS!", 0.1)  # the last output is scored
    trial.record(kept=0.25)  # recorded by the trial: its scorer is not called
    trial.complete_metrics()
    assert trial.metrics == {"correct": True, "strict": False, "kept": 0.25}


def test_no_output_scores_as_a_miss() -> None:
    trial = _trial(correct=crucible.Metric(kind="binary", scorer=scorers.exact_match))
    asyncio.run(trial.acomplete_metrics())
    assert trial.metrics == {"correct": False}


def test_a_scorer_returning_no_metric_value_fails_naming_the_scorer() -> None:
    def label(output: object, expected: object) -> str:
        return "yes"

    trial = _trial(verdict=crucible.Metric(scorer=label))
    trial.note_call("Paris", 0.1)
    with pytest.raises(MetricError, match=r"metric 'verdict' = 'yes'.*returned by the scorer"):
        trial.complete_metrics()


def test_a_judgement_without_a_score_fails_a_continuous_metric() -> None:
    unreadable = scorers.Judgement(None, False, "unreadable judge answer: 'hm'", {}, raw="hm")

    def fixed_judgement(output: object, expected: object) -> scorers.Judgement:
        return unreadable  # a judgement as `judged` returns it, without a model

    binary = _trial(ok=crucible.Metric(kind="binary", scorer=fixed_judgement))
    binary.complete_metrics()
    assert binary.metrics == {"ok": False}
    assert binary.results["ok_judgement"]["reasoning"] == "unreadable judge answer: 'hm'"

    continuous = _trial(quality=crucible.Metric(scorer=fixed_judgement))
    with pytest.raises(MetricError, match=r"metric 'quality'.*held no score"):
        continuous.complete_metrics()


def test_a_scorer_must_be_callable() -> None:
    with pytest.raises(ExperimentError, match="is not callable"):
        crucible.Metric(scorer="exact_match")  # type: ignore[arg-type]


def test_every_output_and_expected_scorer_can_be_declared() -> None:
    """Each scorer taking (output, expected) gives, declared, what it gives called directly."""
    declarable = {
        "exact_match": scorers.exact_match,
        "includes": scorers.includes,
        "token_f1": scorers.token_f1,
        "squad_exact_match": scorers.squad_exact_match,
        "bleu": scorers.bleu,
        "chrf": scorers.chrf,
        "numeric_match": scorers.numeric_match,
        "multiple_choice": scorers.multiple_choice,
        "gsm8k_match": scorers.gsm8k_match,
    }
    cases = [  # (output, expected): a hit for some scorers, a miss for others
        ("It is Paris, France.", ["paris", "Paris, France"]),
        ("  paris, FRANCE ", ["Paris, France"]),
        ("The answer is (B), about 1,250.5 euros", "B"),
        ("She pays 3 * 4 = 12.\n#### 12", "Half of 24 is 12.\n#### 12"),
    ]
    declared: set[str] = set()
    for output, expected in cases:
        direct = {}
        for name, scorer in declarable.items():
            try:
                direct[name] = scorer(output, expected)
            except scorers.ScorerError:
                continue  # e.g. multiple_choice with a non-letter expected answer
        experiment = crucible.Experiment(
            "declared-all",
            dataset=[{"id": "x", "input": "q", "expected": expected}],
            conditions={"echo": lambda text: text},
            metrics={name: crucible.Metric(scorer=declarable[name]) for name in direct},
        )
        plan = experiment.plan()
        trial = Trial(plan.trials[0], plan)
        trial.note_call(output, 0.1)
        trial.complete_metrics()
        assert trial.metrics == pytest.approx(direct), (output, expected)
        assert any(v in (True, 1.0) for v in direct.values()), direct  # not all misses
        declared |= set(direct)
    assert declared == set(declarable)
