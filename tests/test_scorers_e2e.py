"""Declared metric scorers and the model-graded scorer in whole pytest runs (pytester):
the metrics a scorer computes are stored with each trial, a scorer that raises fails its
trial with a message naming the metric and the scorer, and a trial that asks the judge
stores the judge's tokens and cost in its usage and its reasoning among its results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from e2e_support import XDIST, query, trial_rows
from pytest_crucible.testing import MockModelServer

DECLARED = """
import os
import pytest_crucible as crucible

def echo(text):
    return text

async def shout(text):
    return text.upper() + "!!"

async def near(output, expected, *, item):
    # an async scorer that also takes the item
    return crucible.scorers.token_f1(output, expected) * (2 if item.id == "b" else 1)

def boom(output, expected):
    raise ValueError("no scoring " + output)

extra = {"doubled": crucible.Metric(scorer=near)}
if os.environ.get("BOOM"):
    extra = {"broken": crucible.Metric(scorer=boom)}

scored = crucible.Experiment(
    name="scored",
    dataset=[
        {"id": "a", "input": "Paris", "expected": "paris"},
        {"id": "b", "input": "the Lyon", "expected": ["Lyon", "Lugdunum"]},
    ],
    conditions={"echo": echo, "shout": shout},
    metrics={
        "correct": crucible.Metric(kind="binary", scorer=crucible.scorers.exact_match),
        "f1": crucible.Metric(scorer=crucible.scorers.token_f1),
        "own": crucible.Metric(kind="binary", scorer=crucible.scorers.exact_match),
        "chars": crucible.Metric(),
        **extra,
    },
    seed=3,
)

if os.environ.get("SYNC_TRIAL"):
    @scored.trial
    def test_scored(condition, item, trial):
        answer = condition(item.input)
        trial.record(chars=len(answer), own=False)
else:
    @scored.trial
    async def test_scored(condition, item, trial):
        answer = await condition(item.input)
        # "own" is recorded here: its scorer is not called
        trial.record(chars=len(answer), own=False)
"""

# exact_match keeps articles by default ("the lyon" != "lyon"), token_f1 drops them (SQuAD)
EXPECTED = {
    ("echo", "a"): {"correct": True, "f1": 1.0, "own": False, "chars": 5, "doubled": 1.0},
    ("echo", "b"): {"correct": False, "f1": 1.0, "own": False, "chars": 8, "doubled": 2.0},
    ("shout", "a"): {"correct": True, "f1": 1.0, "own": False, "chars": 7, "doubled": 1.0},
    ("shout", "b"): {"correct": False, "f1": 1.0, "own": False, "chars": 10, "doubled": 2.0},
}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--crucible", "--crucible-report=none", *args)


@pytest.mark.parametrize("xdist", XDIST)
def test_declared_scorers_compute_the_metrics_the_trial_did_not_record(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_scored=DECLARED)
    run(pytester, *xdist).assert_outcomes(passed=4)
    stored = {(r["condition"], r["item_id"]): r["metrics"] for r in trial_rows(pytester)}
    assert stored == EXPECTED


def test_a_sync_trial_runs_async_scorers_to_completion(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNC_TRIAL", "1")
    pytester.makepyfile(test_scored=DECLARED)
    run(pytester).assert_outcomes(passed=4)
    rows = trial_rows(pytester)
    assert {(r["condition"], r["item_id"]): r["metrics"]["doubled"] for r in rows} == {
        key: value["doubled"] for key, value in EXPECTED.items()
    }


def test_a_scorer_that_raises_fails_its_trial_naming_metric_and_scorer(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOM", "1")
    pytester.makepyfile(test_scored=DECLARED)
    result = run(pytester)
    result.assert_outcomes(failed=4)
    message = "metric 'broken': its scorer test_scored.boom raised ValueError: no scoring"
    result.stdout.fnmatch_lines([f"*{message}*"])
    rows = trial_rows(pytester)
    assert all(message in row["error"]["message"] for row in rows)
    assert all(row["status"] == "failed" for row in rows)


JUDGED = """
import os
import pytest_crucible as crucible
from pytest_crucible import scorers
from pytest_crucible.llm import OpenAICompatibleBackend, PriceTable

backend = OpenAICompatibleBackend(
    os.environ["MOCK_URL"], prices=PriceTable({"mock-model": (1000.0, 2000.0)})
)
RUBRIC = "The response must name the capital given in the reference answer."

def capital(country):
    return {"France": "Paris", "Italy": "Milan"}[country]

graded = crucible.Experiment(
    name="graded",
    dataset=[
        {"id": "fr", "input": "France", "expected": "Paris"},
        {"id": "it", "input": "Italy", "expected": "Rome"},
    ],
    conditions={"guess": capital},
    metrics={
        "judged": crucible.Metric(
            kind="binary", scorer=scorers.judged(rubric=RUBRIC, backend=backend, model="mock-model")
        ),
        "direct": crucible.Metric(kind="binary"),
    },
    seed=11,  # a replay finds calls by their request, the trial's seed included
)

@graded.trial
async def test_graded(condition, item, trial):
    answer = await condition(item.input)
    verdict = await scorers.ajudge(
        answer, rubric=RUBRIC, backend=backend, model="mock-model", item=item,
        expected=item.expected,
    )
    trial.record(direct=verdict.passed)
    trial.result("direct_judgement", verdict.to_dict())
"""


def _grade(request: dict[str, Any]) -> str:
    """A judge that passes a response naming the reference answer."""
    text = request["messages"][-1]["content"]
    reference = text.split("REFERENCE ANSWER:\n", 1)[1].split("\n", 1)[0]
    response = text.rsplit("RESPONSE:\n", 1)[1]
    if reference in response:
        return json.dumps({"reasoning": f"It names {reference}.", "score": 1})
    return f"It names {response.strip()}, not {reference}.\nSCORE: 0"


@pytest.fixture
def judge_server(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MockModelServer]:
    with MockModelServer(answer=_grade) as running:
        monkeypatch.setenv("MOCK_URL", running.base_url)
        pytester.makepyfile(test_graded=JUDGED)
        yield running


def test_the_judges_tokens_cost_and_reasoning_are_stored_with_the_trial(
    pytester: pytest.Pytester, judge_server: MockModelServer
) -> None:
    run(pytester).assert_outcomes(passed=2)
    rows = {row["item_id"]: row for row in trial_rows(pytester)}
    assert {i: (r["metrics"]["judged"], r["metrics"]["direct"]) for i, r in rows.items()} == {
        "fr": (True, True),
        "it": (False, False),
    }
    assert judge_server.stats()["requests"] == 4  # two judge calls per trial, nothing else
    for item_id, row in rows.items():
        results = json.loads(row["results"])
        judgements = [results["judged_judgement"], results["direct_judgement"]]
        # the reasoning is stored with the trial
        want = "It names Paris." if item_id == "fr" else "It names Milan, not Rome."
        assert [j["reasoning"] for j in judgements] == [want, want]
        # the trial's stored usage is the judge calls' usage: tokens and cost
        tokens_in = sum(j["usage"]["input_tokens"] for j in judgements)
        tokens_out = sum(j["usage"]["output_tokens"] for j in judgements)
        assert (row["input_tokens"], row["output_tokens"]) == (tokens_in, tokens_out)
        assert tokens_in > 0 and tokens_out > 0
        assert row["cost_usd"] == pytest.approx((tokens_in * 1000 + tokens_out * 2000) / 1e6)
        assert json.loads(row["usage"])["model_calls"] == 2
    # the judge's calls are recorded like any model call (replay, the call cache); the two
    # judge calls of a trial are the same request, so they share one cache entry
    assert len(query(pytester, "SELECT * FROM model_calls")) == 2


def test_a_replayed_run_answers_the_judge_from_the_recording(
    pytester: pytest.Pytester, judge_server: MockModelServer
) -> None:
    run(pytester).assert_outcomes(passed=2)
    requests = judge_server.stats()["requests"]
    run(pytester, "--crucible-replay").assert_outcomes(passed=2)
    assert judge_server.stats()["requests"] == requests, "the replay asked the judge again"
    latest = query(pytester, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[0]
    replayed = query(
        pytester,
        "SELECT item_id, metrics, results FROM trials WHERE run_id = ?",
        (latest["run_id"],),
    )
    assert {
        r["item_id"]: json.loads(r["results"])["judged_judgement"]["reasoning"] for r in replayed
    } == {
        "fr": "It names Paris.",
        "it": "It names Milan, not Rome.",
    }
