"""Is an ensemble of samples of one model worth its cost? Ensemble sizes 1, 3 and 5.

Each condition asks the same model 1, 3 or 5 times (independent samples: the k-th repeat
is sent another seed) and takes the majority answer; every member's answer, latency, tokens
and cost are kept on the trial (`trial.result("ensemble", ...)`). The analysis compares
accuracy, latency and cost per condition with paired statistics against the single call.
The model is the mock server of `ensemble_server.py` (right with p=0.7, one common wrong
answer), so the binomial prediction is known: 0.70, 0.784, 0.837. Run it with

    pytest --crucible example_experiments/strategies

(it is left out of `pytest --crucible example_experiments`). Fewer questions:
CRUCIBLE_ENSEMBLE_ITEMS=20 (default 200).
"""

from __future__ import annotations

import os

from ensemble_server import MODEL, base_url

import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, PriceTable
from pytest_crucible.strategies import ensemble

ITEMS = int(os.environ.get("CRUCIBLE_ENSEMBLE_ITEMS", "200"))

# USD per million input / output tokens, for the cost columns
backend = OpenAICompatibleBackend(base_url(), prices=PriceTable({MODEL: (0.5, 1.5)}))


def questions(count: int) -> list[dict[str, str]]:
    """Sums whose right answer the mock server reads from the '[answer: X]' marker."""
    return [
        {
            "id": f"sum-{n}",
            "input": f"What is {n * 7 % 97} + {n * 13 % 89}? [answer: {n * 7 % 97 + n * 13 % 89}]",
            "expected": str(n * 7 % 97 + n * 13 % 89),
        }
        for n in range(count)
    ]


ensembles = crucible.Experiment(
    name="ensemble-size",
    description="Majority votes of 1, 3 and 5 samples of one model: accuracy, latency, cost",
    dataset=questions(ITEMS),
    conditions={
        "single": ensemble([(backend, MODEL)]),
        "majority_of_3": ensemble([(backend, MODEL)] * 3),
        "majority_of_5": ensemble([(backend, MODEL)] * 5),
    },
    baseline="single",
    metrics={
        "correct": crucible.Metric(kind="binary", description="the voted answer is right"),
        "latency_s": crucible.Metric(lower_is_better=True, unit="s"),
    },
    seed=2026,
    concurrency=16,
)


@ensembles.trial
async def test_ensemble_size(condition, item, trial):
    answer = await condition(item.input)
    trial.record(correct=answer == item.expected, latency_s=trial.latency_s)
