"""hedge() around a whole condition, inside a trial: the trial function hedges the
`condition` fixture itself (not a model call inside it). The stalled first call of the
condition loses to its backup and is cancelled; the trial passes with the backup's answer and
records the hedge; the model calls the two condition calls made are both counted."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from e2e_support import query
from pytest_crucible.testing import Fault, MockModelServer

EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, RetryPolicy
from pytest_crucible.strategies import Fixed, hedge

backend = OpenAICompatibleBackend(
    base_url=os.environ["MOCK_URL"], retry=RetryPolicy(max_attempts=1), timeout=300.0
)
policy = Fixed(1.0)  # far above an unstalled local call, even on a busy machine

async def ask(question):
    return (await backend.achat("mock-model", question)).content

experiment = crucible.Experiment(
    name="hedged-condition",
    dataset=[{"id": f"q{n}", "input": f"question number {n}"} for n in range(3)],
    conditions={"ask": ask},
    metrics=["answered"],
    seed=1,
)

@experiment.trial
async def test_hedged_condition(condition, item, trial):
    answer = await hedge(lambda: condition(item.input), policy=policy)
    trial.record(answered=item.input in answer)
"""


@pytest.fixture
def server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    # item q1's first request stalls far beyond the test's patience: its backup must win
    with MockModelServer(faults=[Fault(kind="timeout", delay=120.0, match="number 1")]) as running:
        monkeypatch.setenv("MOCK_URL", running.base_url)
        pytester.makepyfile(test_hedged_condition=EXPERIMENT)
        yield running


def test_a_hedged_condition_keeps_the_backups_answer(
    pytester: pytest.Pytester, server: MockModelServer
) -> None:
    result = pytester.runpytest("--crucible", "--crucible-report=none")
    result.assert_outcomes(passed=3)
    rows = {
        row["item_id"]: row
        for row in query(pytester, "SELECT item_id, status, output, metrics, results FROM trials")
    }
    assert sorted(rows) == ["q0", "q1", "q2"]
    for item, row in rows.items():
        assert row["status"] == "passed"
        assert json.loads(row["metrics"])["answered"] in (True, 1)
        assert f"question number {item[1:]}" in json.loads(row["output"])
        hedge = json.loads(row["results"])["hedge"]
        fired = item == "q1"
        assert (hedge["calls"], hedge["backups"], hedge["backup_won"]) == (1, fired, fired)
        call = hedge["per_call"][0]
        assert (call["fired"], call["winner"]) == (fired, "backup" if fired else "primary")
    # q1: its stalled primary and the backup; the others one request each
    assert server.stats()["requests"] == 4
