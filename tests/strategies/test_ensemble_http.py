"""Ensembles over real HTTP to the mock server, whose `Accuracy` makes each model right with
a chosen probability (and otherwise give one common wrong answer): every vote and execution
mode, sync and async. Bounds are 6 binomial sigma; the draws are seeded, so deterministic."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from pytest_crucible.llm import (
    AnthropicBackend,
    GeminiBackend,
    OpenAICompatibleBackend,
    PriceTable,
    RetryPolicy,
)
from pytest_crucible.strategies import Member, ensemble
from pytest_crucible.testing import Accuracy, MockModelServer

from .helpers import expected, majority_probability, question, run_many, within_6_sigma

N = 300
FIVE = [f"m{k}" for k in range(1, 6)]
PRICES = PriceTable({name: (1.0, 2.0) for name in [*FIVE, "cheap", "strong"]})


@pytest.fixture(scope="module")
def server() -> Iterator[MockModelServer]:
    accuracy = Accuracy({"*": 0.7, "strong": 0.95}, wrong="WRONG", seed=3, confidence=False)
    with MockModelServer(answers=accuracy) as running:
        yield running


@pytest.fixture(scope="module")
def backend(server: MockModelServer) -> Iterator[OpenAICompatibleBackend]:
    retry = RetryPolicy(initial_delay=0.01, max_delay=0.05)
    with OpenAICompatibleBackend(server.base_url, retry=retry, prices=PRICES) as running:
        yield running


def test_parallel_majority_of_five_meets_the_binomial_prediction(
    backend: OpenAICompatibleBackend,
) -> None:
    ens = ensemble([(backend, m) for m in FIVE])
    results = run_many(ens, range(N))
    right = sum(r.answer == expected(i) for i, r in enumerate(results))
    assert within_6_sigma(right, N, majority_probability(5, 0.7))
    single = sum(r.members[0].answer == expected(i) for i, r in enumerate(results))
    assert within_6_sigma(single, N, 0.7)
    for i, result in enumerate(results):
        assert result.members_called == 5
        assert [m.member for m in result.members] == [f"openai-compatible:{m}" for m in FIVE]
        assert set(result.answers) <= {expected(i), "WRONG"}
        count = Counter(result.answers)[result.answer]
        assert result.consensus == count / 5
        assert count >= 3
        assert result.input_tokens > 0 and result.output_tokens > 0
        assert result.cost_usd == pytest.approx(sum(m.cost_usd or 0 for m in result.members))
        assert result.stop_reason == "parallel: all 5 members called"


def test_sequential_gives_the_parallel_answer_with_fewer_calls(
    backend: OpenAICompatibleBackend, server: MockModelServer
) -> None:
    members = [(backend, m) for m in FIVE]
    parallel = run_many(ensemble(members), range(N))
    before = server.stats()["requests"]
    sequential = run_many(ensemble(members, execution="sequential"), range(N))
    assert [r.answer for r in sequential] == [r.answer for r in parallel]
    calls = [r.members_called for r in sequential]
    assert server.stats()["requests"] - before == sum(calls)
    assert min(calls) == 3 and max(calls) == 5
    for result, full in zip(sequential, parallel, strict=True):
        # the members called answered as they do in the parallel run, in member order
        assert result.answers == full.answers[: result.members_called]
        if result.members_called < 5:
            assert result.stop_reason == f"decided after {result.members_called} of 5 members"
        else:
            assert result.stop_reason == "all 5 members called"
        assert Counter(result.answers)[result.answer] == 3 or result.members_called == 5


def test_a_sync_run_matches_the_async_one(backend: OpenAICompatibleBackend) -> None:
    ens = ensemble([(backend, m) for m in FIVE[:3]], execution="sequential")
    async_results = run_many(ens, range(40))
    sync_results = [ens.run(question(i)) for i in range(40)]
    assert [r.to_dict()["answers"] for r in sync_results] == [
        r.to_dict()["answers"] for r in async_results
    ]
    assert [r.answer for r in sync_results] == [r.answer for r in async_results]


def test_repeats_of_one_model_are_independent_samples(
    backend: OpenAICompatibleBackend, server: MockModelServer
) -> None:
    server.reset()
    ens = ensemble([(backend, "m1")] * 5)
    results = run_many(ens, range(N))
    right = sum(r.answer == expected(i) for i, r in enumerate(results))
    assert within_6_sigma(right, N, majority_probability(5, 0.7))
    seeds = Counter(entry["json"].get("seed") for entry in server.request_log())
    assert seeds[None] > 0 and all(seeds[k] > 0 for k in range(1, 5))


def test_weights_let_the_strong_model_outvote_two_weak_ones(
    backend: OpenAICompatibleBackend,
) -> None:
    members = [(backend, "m1"), (backend, "m2"), (backend, "strong")]
    weighted = run_many(ensemble(members, vote="weighted", weights=[1, 1, 2.5]), range(100))
    assert all(r.answer == r.members[2].answer for r in weighted)
    heavy = ensemble(
        [Member(backend, "m1", weight=3), (backend, "m2"), (backend, "m3")], vote="weighted"
    )
    assert all(r.answer == r.members[0].answer for r in run_many(heavy, range(100)))


def test_unanimous_answers_only_when_every_member_agrees(backend: OpenAICompatibleBackend) -> None:
    results = run_many(ensemble([(backend, m) for m in FIVE[:3]], vote="unanimous"), range(100))
    for result in results:
        agree = len(set(result.answers)) == 1
        assert result.answer == (result.answers[0] if agree else None)
    assert any(r.answer is None for r in results) and any(r.answer for r in results)


def test_normalize_makes_differently_written_answers_one_vote(
    backend: OpenAICompatibleBackend,
) -> None:
    def shout(prompt: str) -> str:
        return "  THE ANSWER IS " + prompt.split("[answer: ")[1].rstrip("]")

    def number(text: str) -> str | None:
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits or None

    ens = ensemble([shout, shout, (backend, "m1")], normalize=number)
    results = run_many(ens, range(30))
    assert all(r.answer == expected(i) for i, r in enumerate(results))
    assert all(r.members[0].raw.startswith("  THE ANSWER") for r in results)
    assert all(r.members[0].answer == expected(i) for i, r in enumerate(results))


def test_three_providers_vote_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OpenAI-compatible, an Anthropic and a Gemini model, each speaking its own wire
    format to the mock server: each member's answer is its model's draw, and the majority
    of the three is the answer."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-test")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test-key")
    accuracy = Accuracy({"gpt-x": 0.7, "claude-x": 0.7, "gemini-x": 0.7}, seed=8)
    retry = RetryPolicy(initial_delay=0.01, max_delay=0.05)
    with (
        MockModelServer(answers=accuracy) as server,
        OpenAICompatibleBackend(server.base_url, retry=retry) as openai,
        AnthropicBackend(server.url, retry=retry) as anthropic,
        GeminiBackend(server.url, retry=retry) as gemini,
    ):
        ens = ensemble([(openai, "gpt-x"), (anthropic, "claude-x"), (gemini, "gemini-x")])
        results = run_many(ens, range(60))
    for i, result in enumerate(results):
        draws = [
            accuracy.draw(m, question(i), expected(i)).answer
            for m in ("gpt-x", "claude-x", "gemini-x")
        ]
        assert result.answers == draws
        assert result.answer == Counter(draws).most_common(1)[0][0]
    assert [m.member for m in results[0].members] == [
        "openai-compatible:gpt-x",
        "anthropic:claude-x",
        "gemini:gemini-x",
    ]


def test_a_tie_of_two_members_goes_to_the_first_over_http(
    backend: OpenAICompatibleBackend,
) -> None:
    for first, second in (("m1", "m2"), ("m2", "m1")):
        results = run_many(ensemble([(backend, first), (backend, second)]), range(60))
        split = [r for r in results if r.answers[0] != r.answers[1]]
        assert split, "no disagreement among 60 items at p=0.7"
        assert all(r.answer == r.answers[0] and r.consensus == 0.5 for r in split)
