"""A server's Retry-After is honoured at every level: between the attempts of a model call,
and before a trial-level retry (the experiment's ErrorHandling) after the call gave up on it.

The mock server notes when it answered each 429 and when the next request for the same prompt
arrived; every retry must come at least Retry-After later. A lower bound only: a slow machine
makes the gaps longer, never shorter."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from e2e_support import XDIST, trial_rows
from pytest_crucible.testing import Fault, MockModelServer

RETRY_AFTER_S = 0.3

# Each call tries twice (RetryPolicy) and each trial three times (ErrorHandling), both with
# delays of 10 ms of their own: only a Retry-After makes them wait longer.
EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, RetryPolicy

backend = OpenAICompatibleBackend(
    base_url=os.environ["MOCK_URL"],
    api_key_env=None,
    retry=RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.01, jitter=False),
)

async def ask_async(question):
    return (await backend.achat("mock-model", "awaited: " + question)).content

def ask_sync(question):
    return backend.chat("mock-model", "called: " + question).content

limited = crucible.Experiment(
    name="limited",
    dataset=[{"id": f"q{n}", "input": f"question number {n}"} for n in range(4)],
    conditions={"async": ask_async, "sync": ask_sync},
    metrics=["answered"],
    seed=3,
    error_handling=crucible.ErrorHandling(
        max_retries=2, initial_delay=0.01, max_delay=0.01, jitter="none"
    ),
)

@limited.trial
async def test_limited(condition, item, trial):
    answer = await condition(item.input)
    trial.record(answered="Mock answer" in answer)
"""

# Three refusals per prompt: the call's two attempts, then the first attempt of the trial's
# retry (which the call retries once more and then gets its answer).
REFUSED = ("awaited: question number 1", "called: question number 1", "awaited: question number 2")


@pytest.fixture
def server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    faults = [Fault(status=429, retry_after=RETRY_AFTER_S, times=3, match=p) for p in REFUSED]
    with MockModelServer(faults=faults) as running:
        monkeypatch.setenv("MOCK_URL", running.base_url)
        pytester.makepyfile(test_limited=EXPERIMENT)
        yield running


def _prompt(request: dict[str, Any]) -> str:
    return str(request["json"]["messages"][-1]["content"])


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("concurrency", ["1", "8"])
def test_every_retry_waits_the_retry_after_of_the_refusal(
    pytester: pytest.Pytester, server: MockModelServer, concurrency: str, xdist: list[str]
) -> None:
    result = pytester.runpytest(
        "--crucible", "--crucible-report=none", "--crucible-concurrency", concurrency, *xdist
    )
    result.assert_outcomes(passed=8)
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for request in server.request_log():
        by_prompt.setdefault(_prompt(request), []).append(request)
    retries = []
    for prompt in REFUSED:
        requests = sorted(by_prompt[prompt], key=lambda request: request["received_at"])
        assert [r["status"] for r in requests] == [429, 429, 429, 200], prompt
        for refused, retry in itertools.pairwise(requests):
            retries.append((prompt, retry["received_at"] - refused["answered_at"]))
    early = [(prompt, round(gap, 3)) for prompt, gap in retries if gap < RETRY_AFTER_S]
    assert not early, f"retries sooner than the Retry-After of {RETRY_AFTER_S} s: {early}"
    # the middle retry of each prompt was the trial's own (after the call gave up), and it
    # waited the Retry-After, not its own 10 ms
    delays = [json.loads(row["recovery"])["retry_delays"] for row in trial_rows(pytester)]
    retried = [d for d in delays if d]
    assert len(retried) == len(REFUSED) and all(len(d) == 1 for d in retried), delays
    assert all(d[0] >= RETRY_AFTER_S for d in retried), delays
