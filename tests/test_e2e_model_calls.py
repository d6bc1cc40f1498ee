"""Model calls inside experiments, end to end over HTTP against the mock server: usage and
cost in the store and the summary, the call cache, replay, budgets and the estimate."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from e2e_support import XDIST, query, trial_rows
from pytest_crucible.testing import Fault, MockModelServer

# USD 1,000 / 2,000 per million input / output tokens: a mock call costs about $0.02
EXPERIMENT = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, PriceTable, RetryPolicy

backend = OpenAICompatibleBackend(
    base_url=os.environ["MOCK_URL"],
    prices=PriceTable({"mock-model": (1000.0, 2000.0)}),
    retry=RetryPolicy(initial_delay=float(os.environ.get("RETRY_DELAY", "1"))),
)
SUFFIX = os.environ.get("PROMPT_SUFFIX", "")

async def plain(question, seed):
    answer = await backend.achat("mock-model", question + SUFFIX, temperature=0.7, seed=seed)
    return answer.content

async def polite(question, seed):
    answer = await backend.achat(
        "mock-model", "Please: " + question + SUFFIX, temperature=0.7, seed=seed
    )
    return answer.content

budget = os.environ.get("BUDGET")
calls = crucible.Experiment(
    name="calls",
    dataset=[{"id": f"q{n}", "input": f"question number {n}"} for n in range(6)],
    conditions={"plain": plain, "polite": polite},
    metrics=["answered"],
    repeat=2,
    seed=5,
    budget=crucible.Budget(max_total_usd=float(budget)) if budget else None,
    estimate=crucible.Estimate(
        model="mock-model",
        max_tokens=16,
        prompt_tokens=3,
        latency_s=0.5,
        prices={"mock-model": (1000.0, 2000.0)},
    ),
    concurrency=int(os.environ.get("CONCURRENCY", "1")),
)

@calls.trial
async def test_calls(condition, item, trial):
    answer = await condition(item.input, trial.seed)
    trial.record(answered="Mock answer" in answer)
"""

TRIALS = 24


@pytest.fixture
def server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[MockModelServer]:
    with MockModelServer() as running:
        monkeypatch.setenv("MOCK_URL", running.base_url)
        pytester.makepyfile(test_calls=EXPERIMENT)
        yield running


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--crucible", "--crucible-report=none", *args)


def run_bounded(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """`run` in a child pytest that is killed (and the test failed) after 5 minutes."""
    return pytester.runpytest_subprocess("--crucible", "--crucible-report=none", *args, timeout=300)


@pytest.mark.parametrize("xdist", XDIST)
def test_usage_and_cost_are_stored_per_trial_and_shown(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    result = run(pytester, *xdist)
    result.assert_outcomes(passed=TRIALS)
    rows = trial_rows(pytester)
    assert all(row["input_tokens"] > 0 and row["output_tokens"] > 0 for row in rows)
    expected = [(row["input_tokens"] * 1000 + row["output_tokens"] * 2000) / 1e6 for row in rows]
    assert [row["cost_usd"] for row in rows] == pytest.approx(expected)
    assert len(query(pytester, "SELECT * FROM model_calls")) == TRIALS  # all recorded
    total = sum(expected)
    result.stdout.fnmatch_lines(["model usage:", "  plain: * input + * output tokens, $*"])
    result.stdout.fnmatch_lines([f"  run total: ${total:.4f}"])


@pytest.mark.parametrize("xdist", XDIST)
def test_replay_answers_from_the_recording_without_network(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    run(pytester).assert_outcomes(passed=TRIALS)
    recorded = {
        (r["condition"], r["item_id"], r["repeat"]): r["output"] for r in trial_rows(pytester)
    }
    requests = server.stats()["requests"]

    run(pytester, "--crucible-replay", *xdist).assert_outcomes(passed=TRIALS)
    assert server.stats()["requests"] == requests, "replay made network calls"
    latest = query(pytester, "SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[0]
    replayed = query(
        pytester,
        "SELECT condition, item_id, repeat, output FROM trials WHERE run_id = ?",
        (latest["run_id"],),
    )
    outputs = {(r["condition"], r["item_id"], r["repeat"]): r["output"] for r in replayed}
    assert {key: json.loads(value) for key, value in outputs.items()} == recorded


def test_replay_names_a_call_missing_from_the_recording(
    pytester: pytest.Pytester, server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(pytester).assert_outcomes(passed=TRIALS)
    requests = server.stats()["requests"]
    monkeypatch.setenv("PROMPT_SUFFIX", " (edited)")
    result = run(pytester, "--crucible-replay")
    result.assert_outcomes(failed=TRIALS)
    assert server.stats()["requests"] == requests
    result.stdout.fnmatch_lines(
        ["*ReplayMissError: --crucible-replay: no recorded answer for a openai-compatible "
         "call to model 'mock-model'*question number 0 (edited)*"]
    )  # fmt: skip


def test_the_cache_in_readwrite_mode_reuses_answers(
    pytester: pytest.Pytester, server: MockModelServer
) -> None:
    run(pytester, "--crucible-cache=readwrite").assert_outcomes(passed=TRIALS)
    assert server.stats()["requests"] == TRIALS
    run(pytester, "--crucible-cache=readwrite").assert_outcomes(passed=TRIALS)
    assert server.stats()["requests"] == TRIALS
    run(pytester, "--crucible-cache=off").assert_outcomes(passed=TRIALS)
    assert server.stats()["requests"] == 2 * TRIALS


def test_an_unknown_cache_mode_is_a_usage_error(
    pytester: pytest.Pytester, server: MockModelServer
) -> None:
    result = run(pytester, "--crucible-cache=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--crucible-cache=sometimes: choose one of off, read, write*"])


@pytest.mark.parametrize("xdist", XDIST)
def test_a_spent_budget_skips_the_rest_and_a_larger_one_finishes_the_run(
    pytester: pytest.Pytester,
    server: MockModelServer,
    xdist: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BUDGET", "0.1")
    result = run(pytester, *xdist)
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) > 0 and outcomes.get("passed", 0) > 0, outcomes
    result.stdout.fnmatch_lines(["*budget: experiment calls spent $* of max_total_usd=0.1*"])
    rows = trial_rows(pytester)
    spent = sum(row["cost_usd"] for row in rows)
    assert spent < 0.1 + 0.05  # at most one call in flight per process past the line
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "interrupted"

    monkeypatch.setenv("BUDGET", "10")
    resumed = run(pytester, "--crucible-resume", *xdist)
    resumed.assert_outcomes(passed=TRIALS - len(rows))
    assert len(trial_rows(pytester)) == TRIALS
    assert query(pytester, "SELECT status FROM runs")[0]["status"] == "completed"


@pytest.mark.parametrize("xdist", XDIST)
def test_estimate_runs_nothing_and_prints_trials_tokens_cost_and_time(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    result = run(pytester, "--crucible-estimate", *xdist)
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(skipped=TRIALS)
    processes = 2 if xdist else 1
    result.stdout.fnmatch_lines(
        [
            "*crucible estimate*",
            f"calls: estimate at concurrency 1 x {processes} process(es)",
            "*condition*trials*input tok*output tok*cost USD*time*",
            f"  plain *12 *96 g *192 d *0.4800 g *{6 / processes:.1f} s d",
            f"  polite *12 *96 g *192 d *0.4800 g *{6 / processes:.1f} s d",
            "  pytest start-up and session end *?",
            f"  total: 24 trials, $0.9600, about {12 / processes:.1f} s plus start-up*",
            "  d: declared in the experiment's Estimate(...)",
            "  g: guessed: input = the items' text and the prompt text in the conditions' code*",
        ]
    )
    assert server.stats()["requests"] == 0
    assert query(pytester, "SELECT count(*) AS n FROM runs")[0]["n"] == 0


@pytest.mark.parametrize("xdist", XDIST)
def test_estimate_after_a_run_uses_its_measured_tokens_cost_and_time(
    pytester: pytest.Pytester,
    server: MockModelServer,
    xdist: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's case: a previous run exists, yet the estimate said "output tok" at the
    max_tokens bound (0 without Estimate) and a time from the latency per call alone, a third
    of the run's real time. Now every figure is the run's own, marked m."""
    monkeypatch.setenv("CONCURRENCY", "4")
    server.set_latency(0.2)
    ran = run_bounded(pytester, *xdist)
    ran.assert_outcomes(passed=TRIALS)
    took = _seconds(r"passed in ([0-9.]+)s", ran.stdout.str())
    rows = trial_rows(pytester)
    (run_id,) = {row["run_id"] for row in rows}

    result = run_bounded(pytester, "--crucible-estimate", *xdist)
    result.assert_outcomes(skipped=TRIALS)
    for condition in ("plain", "polite"):
        mine = [row for row in rows if row["condition"] == condition]
        inputs = sum(row["input_tokens"] for row in mine)
        outputs = sum(row["output_tokens"] for row in mine)
        cost = sum(row["cost_usd"] for row in mine)
        result.stdout.fnmatch_lines(
            [f"  {condition} *12 *{inputs:,} m *{outputs:,} m *{cost:.4f} m *s m"]
        )
    result.stdout.fnmatch_lines(
        [
            f"calls: estimate at concurrency 4 x * process(es), from run {run_id} (24 trials)",
            "  pytest start-up and session end * s m",
            f"  m: measured in run {run_id}: tokens and cost per trial; time per trial*",
        ]
    )
    assert " g" not in result.stdout.str().split("crucible estimate")[1].split("total:")[0]
    estimated = _seconds(r"about ([0-9.]+) s", result.stdout.str())
    # the whole session as pytest timed it; the estimate measures from the plugin's start
    assert 0.75 * took <= estimated <= 1.1 * took, (estimated, took)


@pytest.mark.parametrize("traceback", ["--showlocals", "--tb=long"])
def test_the_api_key_reaches_neither_store_logs_errors_nor_reports(
    pytester: pytest.Pytester,
    server: MockModelServer,
    monkeypatch: pytest.MonkeyPatch,
    traceback: str,
) -> None:
    """Not in pytest's output either: `--tb=long` prints every frame's arguments, those of
    httpx's and aiohttp's frames (the request headers) included, and `--showlocals` every
    frame's locals."""
    secret = "sk-crucible-test-0123456789abcdefSECRET"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("RETRY_DELAY", "0.01")  # the failing calls retry 4 times each
    server.set_faults(
        [
            Fault(status=401, match="question number 3", times=None),
            Fault(status=500, match="question number 4", times=None),
            Fault(kind="disconnect", match="question number 5", times=None),
        ]
    )
    result = pytester.runpytest("--crucible", "--crucible-report=md,html", "-rA", traceback)
    result.assert_outcomes(passed=TRIALS - 12, failed=12)
    assert any(
        request["headers"].get("Authorization") == f"Bearer {secret}"
        for request in server.request_log()
    ), "the key was sent"
    assert secret not in result.stdout.str() + result.stderr.str()
    errors = [row["error"] for row in trial_rows(pytester) if row["error"]]
    assert errors and all(secret not in json.dumps(error) for error in errors)
    files = [p for p in pytester.path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert any(p.suffix == ".db" for p in files) and any(p.suffix == ".md" for p in files)
    leaking = [p for p in files if secret.encode() in p.read_bytes()]
    assert leaking == [], leaking


UNSEEDED = """
import os
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend

backend = OpenAICompatibleBackend(base_url=os.environ["MOCK_URL"])

async def ask(question):
    return (await backend.achat("mock-model", question, temperature=0.7)).content

exp = crucible.Experiment(
    "unseeded", [{"id": f"q{n}", "input": f"question {n}"} for n in range(3)],
    conditions={"ask": ask}, metrics=["n"], repeat=2, seed=11,
)

@exp.trial
async def test_ask(condition, item, trial):
    await condition(item.input)
    trial.record(n=trial.seed % 1_000_003)  # metrics are floats: keep it exact
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_calls_without_a_seed_get_the_trials_seed(
    pytester: pytest.Pytester, server: MockModelServer, xdist: list[str]
) -> None:
    pytester.makepyfile(test_unseeded=UNSEEDED)
    run(pytester, "test_unseeded.py", *xdist).assert_outcomes(passed=6)
    sent = sorted(request["json"]["seed"] % 1_000_003 for request in server.request_log())
    trial_seeds = sorted(int(row["metrics"]["n"]) for row in trial_rows(pytester))
    assert sent == trial_seeds and len(set(sent)) == 6  # one seed per trial, repeats differ


def _seconds(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found is not None, text[-2000:]
    return float(found.group(1))


PROMPTED = """
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend

backend = OpenAICompatibleBackend("http://127.0.0.1:9/v1")   # never called: an estimate
SYSTEM = "You answer questions about numbers. Reply with one short sentence, " * 4
EXAMPLES = (("What is one plus one?", "One plus one is two."),)

def few_shot_messages(question):
    messages = [{"role": "system", "content": SYSTEM}]
    for asked, answered in EXAMPLES:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    return messages + [{"role": "user", "content": question}]

async def plain(question):
    return (await backend.achat("mock-model", question)).content

async def few_shot(question):
    return (await backend.achat("mock-model", few_shot_messages(question))).content

prompted = crucible.Experiment(
    name="prompted",
    dataset=[{"id": f"q{n}", "input": f"question number {n}"} for n in range(5)],
    conditions={"plain": plain, "few_shot": few_shot},
    metrics=["answered"],
)

@prompted.trial
async def test_prompted(condition, item, trial):
    trial.record(answered=bool(await condition(item.input)))
"""


def test_estimate_without_a_run_counts_the_prompt_text_the_conditions_add(
    pytester: pytest.Pytester,
) -> None:
    """No previous run, no Estimate: input tokens count the system prompt and the worked
    examples the condition's code adds (before, both conditions showed the items alone), and
    every figure says it is guessed."""
    pytester.makepyfile(test_prompted=PROMPTED)
    result = run_bounded(pytester, "--crucible-estimate")
    result.assert_outcomes(skipped=10)
    system = "You answer questions about numbers. Reply with one short sentence, " * 4
    added = sum(
        -(-len(text) // 4)  # 4 characters per token, rounded up
        for text in (system, "What is one plus one?", "One plus one is two.")
    )
    items = 5 * 5  # "question number N": 17 characters, 5 tokens, 5 items
    result.stdout.fnmatch_lines(
        [
            "prompted: estimate at concurrency 1 x 1 process(es)",
            f"  plain *5 *{items:,} g *1,280 g *no price *5.0 s g",
            f"  few_shot *5 *{items + 5 * added:,} g *1,280 g *no price *5.0 s g",
            "  total: 10 trials, cost unknown*",
            "  g: guessed: input = the items' text and the prompt text in the conditions' code*",
        ]
    )
