"""Hedged conditions inside experiments, end to end: each trial records its hedge (backup
fired, winner, extra cost); the recording keeps the winner's answer only, and a replay (or
the call cache) answers from it without a request and without hedging."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from e2e_support import XDIST, query, trial_rows
from pytest_crucible.testing import Fault, MockModelServer

EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, PriceTable, RetryPolicy
from pytest_crucible.strategies import Fixed, hedge

backend = OpenAICompatibleBackend(
    base_url=os.environ["MOCK_URL"],
    prices=PriceTable({"mock-model": (1000.0, 2000.0)}),
    retry=RetryPolicy(max_attempts=1),
    timeout=300.0,
)
policy = Fixed(1.0)

async def hedged(question):
    answer = await hedge(lambda: backend.achat("mock-model", question), policy=policy)
    return answer.content

experiment = crucible.Experiment(
    name="hedging",
    dataset=[{"id": f"q{n}", "input": f"question number {n}"} for n in range(3)],
    conditions={"hedged": hedged},
    metrics=["answered"],
    seed=1,
)

@experiment.trial
async def test_hedging(condition, item, trial):
    answer = await condition(item.input)
    trial.record(answered="Mock answer" in answer)
"""


@pytest.fixture
def server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    # item q1's first request stalls far beyond the test's patience: its backup must win
    with MockModelServer(faults=[Fault(kind="timeout", delay=120.0, match="number 1")]) as running:
        monkeypatch.setenv("MOCK_URL", running.base_url)
        pytester.makepyfile(test_hedging=EXPERIMENT)
        yield running


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--crucible", "--crucible-report=none", *args)


def hedge_results(pytester: pytest.Pytester, run_id: str) -> dict[str, dict[str, object]]:
    rows = query(pytester, "SELECT item_id, results FROM trials WHERE run_id = ?", (run_id,))
    return {row["item_id"]: json.loads(row["results"])["hedge"] for row in rows}


def latest_run(pytester: pytest.Pytester) -> str:
    return str(
        query(pytester, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[0]["run_id"]
    )


def test_each_trial_records_its_hedge(pytester: pytest.Pytester, server: MockModelServer) -> None:
    run(pytester).assert_outcomes(passed=3)
    hedges = hedge_results(pytester, latest_run(pytester))
    stalled = hedges["q1"]
    assert (stalled["calls"], stalled["backups"], stalled["backup_won"]) == (1, 1, 1)
    call = stalled["per_call"][0]  # type: ignore[index]
    assert (call["fired"], call["winner"], call["delay_s"]) == (True, "backup", 1.0)
    # the cut-off primary's prompt, "question number 1" (17 characters / 4), at $1,000/M
    assert stalled["extra_input_tokens"] == 4
    assert stalled["extra_cost_usd"] == pytest.approx(4 * 1000 / 1e6)
    for item in ("q0", "q2"):  # answered at once: no backup, nothing extra
        assert (hedges[item]["backups"], hedges[item]["extra_cost_usd"]) == (0, None)
    assert server.stats()["requests"] == 4  # three primaries and one backup
    # the recording keeps one answer per call: the winner's (the loser never finished)
    calls = query(pytester, "SELECT request, response FROM model_calls")
    assert len(calls) == 3
    durations = {
        json.loads(c["request"])["messages"][-1]["content"]: json.loads(c["response"])["duration_s"]
        for c in calls
    }
    assert durations["question number 1"] >= 1.0  # the backup's, with the delay it waited


@pytest.mark.parametrize("xdist", XDIST)
def test_replay_gives_the_recorded_winner_without_hedging(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    run(pytester).assert_outcomes(passed=3)
    recorded = {r["item_id"]: r["output"] for r in trial_rows(pytester)}
    requests = server.stats()["requests"]

    run(pytester, "--crucible-replay", *xdist).assert_outcomes(passed=3)
    assert server.stats()["requests"] == requests, "the replay sent requests"
    run_id = latest_run(pytester)
    replayed = {
        r["item_id"]: json.loads(r["output"])
        for r in query(pytester, "SELECT item_id, output FROM trials WHERE run_id = ?", (run_id,))
    }
    assert replayed == recorded
    # the recorded winner's duration counts the delay it started after, and so does the
    # replay: q1's latency is at least that delay, as when it was recorded
    latency = query(
        pytester,
        "SELECT latency_s FROM trials WHERE run_id = ? AND item_id = 'q1'",
        (run_id,),
    )[0]["latency_s"]
    assert latency >= 1.0
    for record in hedge_results(pytester, run_id).values():
        call = record["per_call"][0]  # type: ignore[index]
        assert (call["fired"], call["winner"], call["stored"]) == (False, "primary", True)


def test_a_cached_call_never_hedges(pytester: pytest.Pytester, server: MockModelServer) -> None:
    run(pytester).assert_outcomes(passed=3)
    requests = server.stats()["requests"]
    server.set_faults([Fault(kind="timeout", delay=120.0, times=None)])  # every request stalls
    run(pytester, "--crucible-cache=readwrite").assert_outcomes(passed=3)
    assert server.stats()["requests"] == requests  # all three from the cache, no backup
    hedges = hedge_results(pytester, latest_run(pytester))
    assert [hedges[item]["backups"] for item in ("q0", "q1", "q2")] == [0, 0, 0]


def test_the_budget_counts_the_request_a_hedge_cut_off(
    pytester: pytest.Pytester, server: MockModelServer
) -> None:
    """The stalled item runs first under a budget it spends at once: what the budget says
    was spent is the backup's answer plus the cut-off primary's estimated prompt cost (a
    provider bills a cancelled request's input), so the hedge cannot overrun a limit."""
    budgeted = EXPERIMENT.replace(
        "for n in range(3)],",
        "for n in (1, 0, 2)],\n    budget=crucible.Budget(max_total_usd=1e-9),",
    )
    assert budgeted != EXPERIMENT
    pytester.makepyfile(test_hedging=budgeted)
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=2)
    answered = query(pytester, "SELECT cost_usd FROM trials WHERE item_id = 'q1'")[0]["cost_usd"]
    assert answered == pytest.approx((3 * 1000 + 7 * 2000) / 1e6)  # the backup's answer
    spent = answered + 4 * 1000 / 1e6  # "question number 1": 17 characters / 4, at $1,000/M
    result.stdout.fnmatch_lines(
        [f"*2 trial(s) skipped, budget: experiment hedging spent ${spent:.4f} of max_total_usd*"]
    )
