"""Ensembles as an experiment's conditions, end to end: pytest runs the trials, the members
call the mock server over HTTP, every member's answer is stored on the trial, each member's
call is counted in the trial's usage, and a replay reproduces the answers without HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from e2e_support import XDIST, query
from pytest_crucible.testing import Accuracy, Latency, MockModelServer

EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, PriceTable
from pytest_crucible.strategies import ensemble

backend = OpenAICompatibleBackend(
    os.environ["MOCK_URL"], prices=PriceTable({m: (1000.0, 2000.0) for m in ("m1", "m2", "m3")})
)

BUDGET = os.environ.get("BUDGET")
inner = ensemble([(backend, m) for m in ("m1", "m2", "m3")], record_as="inner")

def inside(question):  # a sync condition that calls an ensemble itself
    return inner.run(question).answer

async def inside_async(question):  # an async condition that calls an ensemble itself
    return (await inner.arun(question)).answer

votes = crucible.Experiment(
    name="votes",
    dataset=[
        {"id": f"q{n}", "input": f"What is {n} + 1? [answer: {n + 1}]", "expected": str(n + 1)}
        for n in range(8)
    ],
    conditions={
        "single": ensemble([(backend, "m1")]),
        "three": ensemble([(backend, m) for m in ("m1", "m2", "m3")], execution="sequential"),
        "five": ensemble([(backend, "m1")] * 5),
        "inside": inside,
        "inside_async": inside_async,
        # the primary hangs: a backup answers, the primary's call is cancelled
        "hedged": ensemble([(backend, "hangs"), (backend, "m2")], execution="hedged",
                           hedge_delay=0.05),
    },
    metrics=["correct"],
    repeat=2,
    seed=11,
    budget=crucible.Budget(max_total_usd=float(BUDGET)) if BUDGET else None,
)

if os.environ.get("SYNC_TRIAL"):
    @votes.trial
    def test_votes(condition, item, trial):
        answer = condition(item.input)
        trial.record(correct=answer == item.expected)
else:
    @votes.trial
    async def test_votes(condition, item, trial):
        answer = await condition(item.input)
        trial.record(correct=answer == item.expected)
"""

TRIALS = 6 * 8 * 2
HEDGED = 8 * 2


@pytest.fixture
def server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    latency = {"hangs": Latency.fixed(60.0), "*": 0.0}
    with MockModelServer(answers=Accuracy({"*": 0.7}, seed=4), latency=latency) as running:
        monkeypatch.setenv("MOCK_URL", running.base_url)
        pytester.makepyfile(test_votes=EXPERIMENT)
        yield running


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--crucible", "--crucible-report=none", *args, timeout=300)


def stored(pytester: pytest.Pytester, run_id: str | None = None) -> dict[tuple[Any, ...], Any]:
    if run_id is None:
        run_id = query(pytester, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[0][
            "run_id"
        ]
    rows = query(
        pytester,
        'SELECT condition, item_id, "repeat", output, results, usage, metrics, '
        "input_tokens, cost_usd FROM trials "
        "WHERE run_id = ?",
        (run_id,),
    )
    return {(r["condition"], r["item_id"], r["repeat"]): r for r in rows}


@pytest.mark.parametrize("sync", [False, True], ids=["async-trial", "sync-trial"])
def test_every_members_answer_is_stored_on_the_trial(
    pytester: pytest.Pytester,
    server: MockModelServer,
    monkeypatch: pytest.MonkeyPatch,
    sync: bool,
) -> None:
    if sync:
        monkeypatch.setenv("SYNC_TRIAL", "1")
    run(pytester).assert_outcomes(passed=TRIALS)
    rows = stored(pytester)
    assert len(rows) == TRIALS
    calls = 0
    for (condition, _item, _repeat), row in rows.items():
        key = "inner" if condition.startswith("inside") else "ensemble"
        record = json.loads(row["results"])[key]
        usage = json.loads(row["usage"])
        size = {"single": 1, "three": 3, "five": 5, "hedged": 2, "inside": 3, "inside_async": 3}
        size = size[condition]
        assert record["members_total"] == size
        assert usage["model_calls"] == record["members_called"] == len(record["members"])
        calls += usage["model_calls"]
        assert json.loads(row["output"]) == record["answer"]
        assert record["answers"] == [m["answer"] for m in record["members"]]
        assert record["cost_usd"] == pytest.approx(row["cost_usd"])
        assert record["input_tokens"] == row["input_tokens"]
        assert all(m["latency_s"] > 0 and m["cost_usd"] > 0 for m in record["members"])
        assert json.loads(row["metrics"])["correct"] == (
            record["answer"] == str(int(_item[1:]) + 1)
        )
        if condition == "three":
            assert record["stop_reason"] in (
                "decided after 2 of 3 members",
                "all 3 members called",
            )
        if condition == "hedged":
            assert record["members"][0]["member"] == "openai-compatible:m2"
            assert record["stop_reason"].startswith("hedged: backup 1 answered first")
    # and each hedged trial's primary, cancelled
    assert server.stats()["requests"] == calls + HEDGED
    # the five repeats of one model are independent samples: they do not all agree
    fives = [json.loads(r["results"])["ensemble"] for k, r in rows.items() if k[0] == "five"]
    assert any(len(set(record["answers"])) > 1 for record in fives)


@pytest.mark.parametrize("xdist", XDIST)
def test_replay_reproduces_every_members_answer_without_http(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    run(pytester).assert_outcomes(passed=TRIALS)
    recorded = stored(pytester)
    requests = server.stats()["requests"]
    run(pytester, "--crucible-replay", *xdist).assert_outcomes(passed=TRIALS)
    assert server.stats()["requests"] == requests, "replay made model calls"
    replayed = stored(pytester)
    assert replayed.keys() == recorded.keys()
    for key, row in replayed.items():
        name = "inner" if key[0].startswith("inside") else "ensemble"
        before = json.loads(recorded[key]["results"])[name]
        after = json.loads(row["results"])[name]
        assert after["answers"] == before["answers"]
        assert after["answer"] == before["answer"]
        assert all(m["cached"] for m in after["members"])
        # a stored answer counts the time it took when it was recorded
        assert [m["latency_s"] for m in after["members"]] == [
            m["latency_s"] for m in before["members"]
        ]


def test_a_budget_counts_every_members_call(
    pytester: pytest.Pytester, server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trials of five-member ensembles stop once the calls of all members spent the budget:
    the trials run before the last one had spent less, the last one reached it."""
    monkeypatch.setenv("BUDGET", "0.05")
    result = run(pytester, "--crucible-conditions=five", "-p", "no:randomly")
    rows = sorted(
        query(pytester, "SELECT status, cost_usd, results, started_at FROM trials"),
        key=lambda row: row["started_at"],
    )
    passed = [row for row in rows if row["status"] == "passed"]
    assert 1 <= len(passed) < 16, result.stdout.str()[-3000:]
    costs = [row["cost_usd"] for row in passed]
    for row in passed:
        record = json.loads(row["results"])["ensemble"]
        assert record["members_called"] == 5
        assert row["cost_usd"] == pytest.approx(record["cost_usd"])
    assert sum(costs[:-1]) < 0.05 <= sum(costs)
    assert "budget" in result.stdout.str()
