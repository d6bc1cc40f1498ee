"""Confidence votes, cascades, hedged execution, callable members (sync and async) and the
errors that say what to give, against the mock server over real HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from pytest_crucible.errors import StrategyError
from pytest_crucible.llm import OpenAICompatibleBackend, RateLimit, RetryPolicy
from pytest_crucible.strategies import ensemble, trailing_confidence
from pytest_crucible.testing import Accuracy, Fault, Latency, MockModelServer

from .helpers import expected, question, run_many

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def backend() -> Iterator[OpenAICompatibleBackend]:
    accuracy = Accuracy({"*": 0.7}, seed=5, confidence=True)
    latency = {"hangs": Latency.fixed(20.0), "*": 0.0}
    with (
        MockModelServer(answers=accuracy, latency=latency) as server,
        OpenAICompatibleBackend(server.base_url, retry=FAST) as running,
    ):
        yield running


def test_trailing_confidence_reads_the_usual_ways_of_saying_it() -> None:
    assert trailing_confidence("Paris (confidence 0.83)") == ("Paris", 0.83)
    assert trailing_confidence("Paris. Confidence: 0.9") == ("Paris.", 0.9)
    assert trailing_confidence("Paris") == ("Paris", None)


def test_best_confidence_takes_the_most_confident_member(backend: OpenAICompatibleBackend) -> None:
    members = [(backend, m) for m in ("a", "b", "c")]
    ens = ensemble(members, vote="best_confidence", confidence=trailing_confidence)
    for result in run_many(ens, range(60)):
        best = max(result.members, key=lambda m: (m.confidence or 0.0, -m.index))
        assert result.answer == best.answer
        assert all(m.confidence is not None for m in result.members)


def test_best_confidence_without_confidences_says_how_to_get_them(
    backend: OpenAICompatibleBackend,
) -> None:
    ens = ensemble([lambda q: "x", lambda q: "y"], vote="best_confidence")
    with pytest.raises(StrategyError, match="confidence=trailing_confidence"):
        ens.run("q")


def test_a_cascade_stops_at_a_confident_answer_or_at_agreement(
    backend: OpenAICompatibleBackend,
) -> None:
    members = [(backend, "cheap"), (backend, "middle"), (backend, "dear")]
    ens = ensemble(members, execution="cascade", confidence=trailing_confidence, min_confidence=0.9)
    results = run_many(ens, range(120))
    stops = {r.members_called for r in results}
    assert stops == {1, 2, 3}
    for result in results:
        first = result.members[0]
        confident = first.confidence is not None and first.confidence >= 0.9
        assert (result.members_called == 1) == confident
        if result.members_called == 1:
            assert result.stop_reason == (
                f"cascade: confidence {first.confidence:.2f} >= 0.9 after 1 of 3 members"
            )
        elif result.members_called == 2 and "consensus" in result.stop_reason:
            assert result.answers[0] == result.answers[1]
        if result.members_called == 3:
            assert result.stop_reason.startswith(("all 3 members called", "cascade: confidence"))


def test_hedged_backup_wins_when_the_primary_hangs(backend: OpenAICompatibleBackend) -> None:
    ens = ensemble(
        [(backend, "hangs"), (backend, "b")],
        execution="hedged",
        hedge_delay=0.05,
        confidence=trailing_confidence,
    )
    result = ens.run(question(1))
    assert result.members_called == 1
    assert result.members[0].member == "openai-compatible:b"
    assert result.stop_reason.startswith("hedged: backup 1 answered first")
    assert result.answer in (expected(1), "WRONG")


def test_hedged_primary_answering_first_starts_no_backup(
    backend: OpenAICompatibleBackend,
) -> None:
    ens = ensemble([(backend, "a"), (backend, "hangs")], execution="hedged", hedge_delay=60)
    result = asyncio.run(ens.arun(question(2)))
    assert result.members[0].index == 0
    assert result.stop_reason == "hedged: the primary answered first (1 of the members started)"


def test_sync_and_async_callable_members_run_at_once() -> None:
    """Two sync and one async member: each waits until all three have started, which only
    happens when they run concurrently (the sync ones in threads)."""
    started = threading.Barrier(3, timeout=60)

    def sync_member(q: str) -> tuple[str, float]:
        started.wait()
        return q.upper(), 0.6

    async def async_member(q: str) -> str:
        await asyncio.to_thread(started.wait)
        return q.upper()

    ens = ensemble([sync_member, async_member, sync_member])
    result = ens.run("paris")
    assert result.answer == "PARIS"
    assert result.consensus == 1.0
    assert [m.confidence for m in result.members] == [0.6, None, 0.6]
    assert result.cost_usd is None and result.input_tokens == 0


def test_a_members_error_reaches_the_caller() -> None:
    def broken(q: str) -> str:
        raise RuntimeError("the member broke")

    with pytest.raises(RuntimeError, match="the member broke"):
        ensemble([lambda q: "a", broken]).run("q")
    with pytest.raises(RuntimeError, match="the member broke"):
        ensemble([broken], execution="hedged", hedge_delay=0).run("q")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"members": []}, "non-empty list of members"),
        ({"members": [42]}, "neither \\(backend, 'model name'\\)"),
        ({"members": [("not a backend", "m")]}, "is not a model backend"),
        ({"members": [str], "vote": "plurality"}, "choose one of 'majority'"),
        ({"members": [str], "execution": "racing"}, "choose one of 'parallel'"),
        ({"members": [str, str], "weights": [1]}, "one weight per member \\(2 members\\)"),
        ({"members": [str], "weights": [0]}, "weight=0; give a number > 0"),
        ({"members": [str], "min_confidence": 2}, "number from 0 to 1"),
        ({"members": [str], "hedge_delay": -1}, "seconds >= 0"),
        ({"members": [str], "normalize": "lower"}, "give a function"),
    ],
)
def test_bad_declarations_say_what_to_give(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(StrategyError, match=fragment):
        ensemble(**kwargs)  # type: ignore[arg-type]


def test_bad_calls_say_what_to_do(backend: OpenAICompatibleBackend) -> None:
    ens = ensemble([(backend, "a")])
    with pytest.raises(StrategyError, match="backend members take one prompt"):
        ens.run("a", "b")

    async def inside_a_loop() -> None:
        ens.run(question(1))

    with pytest.raises(StrategyError, match=r"await ensemble\.arun"):
        asyncio.run(inside_a_loop())
    with pytest.raises(StrategyError, match="returned object"):
        ensemble([lambda q: object()]).run("q")
    with pytest.raises(StrategyError, match="must be a confidence"):
        ensemble([lambda q: ("a", "high")]).run("q")


def test_members_keep_to_the_backends_rate_limit_and_retry_its_errors() -> None:
    """Five parallel members through a backend limited to 2 calls in flight: the server never
    has more than 2 at once; two 503s on the way are retried by the backend."""
    accuracy = Accuracy({"*": 0.7}, seed=6)
    with (
        MockModelServer(
            answers=accuracy, latency=0.02, faults=[Fault(status=503, times=2)]
        ) as server,
        OpenAICompatibleBackend(
            server.base_url, retry=FAST, rate_limit=RateLimit(max_in_flight=2, adaptive=False)
        ) as backend,
    ):
        results = run_many(ensemble([(backend, f"m{k}") for k in range(5)]), range(6))
        log = server.request_log()
    assert all(r.members_called == 5 for r in results)
    assert [e["status"] for e in log].count(503) == 2
    events = sorted(
        [(e["received_at"], 1) for e in log] + [(e["answered_at"], -1) for e in log],
        key=lambda event: (event[0], event[1]),  # an answer before a request at one instant
    )
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert peak <= 2
