"""What a run says about its model answers, end to end over HTTP against the mock server:
replayed answers keep their recorded latency, answers cut at max_tokens are counted and
warned about, and a call that fails after its retries shows a short error."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from e2e_support import XDIST, query
from pytest_crucible.testing import Fault, Latency, MockModelServer

EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import AnthropicBackend, OpenAICompatibleBackend, RetryPolicy

RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3)
openai = OpenAICompatibleBackend(os.environ["MOCK_URL"] + "/v1", retry=RETRY)
claude = AnthropicBackend(os.environ["MOCK_URL"], api_key_env="MOCK_KEY", retry=RETRY)
LIMIT = int(os.environ.get("SHORT_LIMIT", "64"))

async def roomy(question):
    return (await openai.achat("mock-model", question, max_tokens=64)).content

async def short(question):
    return (await claude.achat("mock-model", "Briefly: " + question, max_tokens=LIMIT)).content

answers = crucible.Experiment(
    name="answers",
    dataset=[{"id": f"q{n}", "input": f"question number {n}"} for n in range(4)],
    conditions={"roomy": roomy, "short": short},
    baseline="roomy",
    metrics={"answered": crucible.Metric(kind="binary"), "latency_s": crucible.Metric()},
    repeat=2,
    seed=3,
    concurrency=4,
)

@answers.trial
async def test_answers(condition, item, trial):
    answer = await condition(item.input)
    trial.record(answered="Mock answer" in answer, latency_s=trial.latency_s)
"""

TRIALS = 16
SECRET = "sk-mock-0123456789abcdef"
MOCK_LATENCY = 0.2  # seconds the mock server waits before each answer


@pytest.fixture
def server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    with MockModelServer(latency=Latency.fixed(MOCK_LATENCY)) as running:
        monkeypatch.setenv("MOCK_URL", running.url)
        monkeypatch.setenv("MOCK_KEY", SECRET)
        pytester.makepyfile(test_answers=EXPERIMENT)
        yield running


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--crucible", "--crucible-report=none", *args)


def latest_run(pytester: pytest.Pytester) -> str:
    rows = query(pytester, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")
    return str(rows[0]["run_id"])


def trials_of(pytester: pytest.Pytester, run_id: str) -> dict[tuple[str, str, int], dict]:
    rows = query(pytester, "SELECT * FROM trials WHERE run_id = ?", (run_id,))
    return {(r["condition"], r["item_id"], r["repeat"]): r for r in rows}


@pytest.mark.parametrize("xdist", XDIST)
def test_replayed_trials_keep_the_latency_of_the_recording(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    run(pytester).assert_outcomes(passed=TRIALS)
    recorded = trials_of(pytester, latest_run(pytester))
    calls = {
        row["trial_key"]: json.loads(row["response"])
        for row in query(pytester, "SELECT trial_key, response FROM model_calls")
    }
    requests = server.stats()["requests"]

    result = run(pytester, "--crucible-replay", *xdist)
    result.assert_outcomes(passed=TRIALS)
    assert server.stats()["requests"] == requests, "replay made network calls"
    replayed = trials_of(pytester, latest_run(pytester))
    assert replayed.keys() == recorded.keys()
    for key, trial in replayed.items():
        call = calls[recorded[key]["trial_key"]]
        assert trial["latency_s"] >= call["latency_s"] >= MOCK_LATENCY
        # the whole recorded call, then the time the replay itself took (milliseconds)
        assert call["duration_s"] <= trial["latency_s"] < call["duration_s"] + 5.0
        assert json.loads(trial["metrics"])["latency_s"] == trial["latency_s"]
        usage = json.loads(trial["usage"])
        assert usage["model_calls"] == usage["cache_hits"] == 1
    result.stdout.fnmatch_lines(
        ["  roomy: * tokens, no price; 8 of 8 answers from the recording (latency_s counts "
         "their recorded duration)"]
    )  # fmt: skip


@pytest.mark.parametrize("xdist", XDIST)
def test_answers_cut_at_max_tokens_are_counted_and_warned_about(
    pytester: pytest.Pytester,
    server: MockModelServer,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
) -> None:
    monkeypatch.setenv("SHORT_LIMIT", "3")  # the mock answers with more words than that
    result = run(pytester, *xdist)
    result.assert_outcomes(passed=TRIALS)
    usage = {
        key: json.loads(trial["usage"])
        for key, trial in trials_of(pytester, latest_run(pytester)).items()
    }
    assert {u["truncated"] for (condition, _, _), u in usage.items() if condition == "short"} == {1}
    assert {
        u["truncated_at"] for (condition, _, _), u in usage.items() if condition == "short"
    } == {3}
    assert {u["truncated"] for (condition, _, _), u in usage.items() if condition == "roomy"} == {0}
    result.stdout.fnmatch_lines(
        ["  warning: condition short: 8 of 8 answers were cut at max_tokens=3; raise max_tokens"]
    )
    result.stdout.no_fnmatch_line("*condition roomy*cut at*")


@pytest.mark.parametrize(
    ("tb", "xdist"),
    [("auto", []), ("long", []), ("long", ["-n", "2"])],
    ids=["auto", "long", "long-n2"],
)
def test_a_call_that_fails_after_its_retries_shows_a_short_error(
    pytester: pytest.Pytester, server: MockModelServer, tb: str, xdist: list[str]
) -> None:
    server.set_latency(None)
    server.set_faults([Fault(status=503, times=None)])
    result = run(pytester, f"--tb={tb}", "-k", "q0-r0", *xdist)
    result.assert_outcomes(failed=2)
    output = result.stdout.str()
    for noise in ("tenacity", "RetryableFailure", "direct cause", "_backend.py", "runner.py"):
        assert noise not in output
    assert SECRET not in output
    result.stdout.fnmatch_lines(
        [
            "E * call to model 'mock-model' at POST */v1/messages failed after 3 attempts, "
            "last HTTP status 503: retries exhausted; the last error: HTTP 503: *",
            "E *What to do: the server keeps failing: *RetryPolicy(max_attempts=...)",
            "E *Attempts: #1: HTTP 503: *; #2: *; #3: *",
        ]
    )
    failures = output.split("= FAILURES =")[1].split("= crucible results =")[0]
    assert len(failures.splitlines()) < 60  # two trials' frames and errors (was 190 lines)
