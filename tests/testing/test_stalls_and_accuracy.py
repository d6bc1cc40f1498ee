"""Heavy-tailed latency with stalls, per-model latencies, and `Accuracy` answers: sampled
directly (2,000 draws, bounds at 6 binomial sigma; seeded, so deterministic anyway), and
over real HTTP for the delays applied and the answers given."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import httpx
import pytest

from pytest_crucible.testing import (
    Accuracy,
    Latency,
    MockModelServer,
    MockServerError,
    Stall,
    split_confidence,
)

N = 2000


def within_6_sigma(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 6 * math.sqrt(n * p * (1 - p))


def _item(i: int) -> tuple[str, str]:
    return f"Question {i}: what is {i} + 1? [answer: {i + 1}]", str(i + 1)


# -- latency -----------------------------------------------------------------------------------


def test_stall_rate_and_body_median_over_2000_samples() -> None:
    latency = Latency.lognormal(
        median=0.1, sigma=0.3, seed=11, stall=Stall(probability=0.03, low=2.0, high=5.0)
    )
    draws = [latency.draw() for _ in range(N)]
    stalls = [d.stall for d in draws if d.stall > 0]
    assert within_6_sigma(len(stalls), N, 0.03)
    assert all(2.0 <= s <= 5.0 for s in stalls)
    bodies = [d.body for d in draws]
    # sample median's standard error: median * sigma * sqrt(2 pi) / (2 sqrt(n)) = 0.00084
    assert abs(statistics.median(bodies) - 0.1) <= 6 * 0.1 * 0.3 * math.sqrt(2 * math.pi) / (
        2 * math.sqrt(N)
    )
    # the spread of log(body): sigma, standard error sigma / sqrt(2n)
    assert abs(statistics.stdev(math.log(b) for b in bodies) - 0.3) <= 6 * 0.3 / math.sqrt(2 * N)
    assert [d.total for d in draws] == [d.body + d.stall for d in draws]


def test_stalls_are_deterministic_per_seed_and_leave_the_body_alone() -> None:
    stall = Stall(probability=0.2, low=1.0, high=2.0)
    first = Latency.lognormal(0.1, 0.3, seed=5, stall=stall).samples(200)
    again = Latency.lognormal(0.1, 0.3, seed=5, stall=stall)
    assert again.samples(200) == first
    again.reset()
    assert again.samples(200) == first
    assert Latency.lognormal(0.1, 0.3, seed=6, stall=stall).samples(200) != first
    plain = Latency.lognormal(0.1, 0.3, seed=5)
    stalled = Latency.lognormal(0.1, 0.3, seed=5, stall=stall)
    assert [stalled.draw().body for _ in range(50)] == plain.samples(50)


def test_a_stall_survives_the_trip_to_a_child_process() -> None:
    latency = Latency.pareto(0.01, 2.0, seed=3, cap=1.0, stall=Stall(0.5, 0.1, 0.2))
    assert Latency.from_dict(latency.to_dict()) == latency
    assert "stall=Stall(probability=0.5" in repr(latency)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"probability": 1.5, "low": 1, "high": 2}, "probability from 0 to 1"),
        ({"probability": 0.1, "low": 3, "high": 2}, "high must be >= low"),
        ({"probability": 0.1, "low": -1, "high": 2}, "finite number >= 0"),
    ],
)
def test_bad_stalls_say_what_to_give(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(MockServerError, match=fragment):
        Stall(**kwargs)


def test_delays_are_applied_per_model_and_recorded_in_the_request_log() -> None:
    latency = {
        "stalling": Latency.fixed(0.0, stall=Stall(probability=1.0, low=0.01, high=0.02)),
        "slow": 0.03,
        "*": None,
    }
    with MockModelServer(latency=latency) as server, httpx.Client(trust_env=False) as client:
        for model in ("stalling", "slow", "other"):
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            assert client.post(server.base_url + "/chat/completions", json=body).is_success
        delays = {entry["json"]["model"]: entry["delay_s"] for entry in server.request_log()}
    assert 0.01 <= delays["stalling"] <= 0.02
    assert delays["slow"] == 0.03
    assert delays["other"] == 0.0


def test_per_model_latencies_reach_a_child_process_server() -> None:
    latency = {"slow": Latency.fixed(0.02), "*": 0.0}
    with MockModelServer(latency=latency, in_process=True) as server:
        with httpx.Client(trust_env=False, timeout=30) as client:
            for model in ("slow", "fast"):
                body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
                client.post(server.base_url + "/chat/completions", json=body)
        delays = [entry["delay_s"] for entry in server.request_log()]
    assert delays == [0.02, 0.0]


# -- accuracy ----------------------------------------------------------------------------------


def test_accuracy_over_2000_items_and_independence_across_models() -> None:
    accuracy = Accuracy({"m1": 0.7, "m2": 0.9}, wrong="WRONG", seed=1)
    right = Counter[str]()
    agree = both_right = 0
    for i in range(N):
        question, expected = _item(i)
        one = accuracy.draw("m1", question, expected)
        two = accuracy.draw("m2", question, expected)
        right["m1"] += one.right
        right["m2"] += two.right
        assert one.answer == (expected if one.right else "WRONG")
        agree += one.answer == two.answer
        both_right += one.right and two.right
    assert within_6_sigma(right["m1"], N, 0.7)
    assert within_6_sigma(right["m2"], N, 0.9)
    assert within_6_sigma(agree, N, 0.7 * 0.9 + 0.3 * 0.1)
    assert within_6_sigma(both_right, N, 0.7 * 0.9)


def test_request_seeds_are_independent_members_of_an_ensemble() -> None:
    """Five draws of one model with seeds 0-4, each right with p=0.7 and otherwise one common
    wrong answer: the majority is right with the binomial probability 0.837."""
    accuracy = Accuracy({"*": 0.7}, seed=2)
    majority_right = 0
    for i in range(N):
        question, expected = _item(i)
        answers = [accuracy.draw("m", question, expected, seed).answer for seed in range(5)]
        majority_right += Counter(answers).most_common(1)[0][0] == expected
    p5 = sum(math.comb(5, k) * 0.7**k * 0.3 ** (5 - k) for k in (3, 4, 5))
    assert round(p5, 3) == 0.837
    assert within_6_sigma(majority_right, N, p5)


def test_draws_are_deterministic_per_seed() -> None:
    question, expected = _item(1)
    draws = [Accuracy({"m": 0.5}, seed=9).draw("m", question, expected, s) for s in range(64)]
    again = [Accuracy({"m": 0.5}, seed=9).draw("m", question, expected, s) for s in range(64)]
    other = [Accuracy({"m": 0.5}, seed=10).draw("m", question, expected, s) for s in range(64)]
    assert draws == again
    assert draws != other


def test_wrong_answers_follow_their_weights_and_confidences_their_ranges() -> None:
    accuracy = Accuracy({"m": 0.5}, wrong={"A": 3, "B": 1}, seed=4, confidence=True)
    wrong = Counter[str]()
    for i in range(N):
        question, expected = _item(i)
        draw = accuracy.draw("m", question, expected)
        assert split_confidence(draw.text) == (draw.answer, round(draw.confidence or 0, 2))
        low, high = (0.55, 1.0) if draw.right else (0.3, 0.75)
        assert draw.confidence is not None and low <= draw.confidence <= high
        if not draw.right:
            wrong[draw.answer] += 1
    total = sum(wrong.values())
    assert within_6_sigma(total, N, 0.5)
    assert within_6_sigma(wrong["A"], total, 0.75)
    assert split_confidence("Paris") == ("Paris", None)


def test_accuracy_answers_over_http_match_the_direct_draws() -> None:
    accuracy = Accuracy({"m1": 0.7, "m2": 0.9}, seed=1, confidence=True)
    with MockModelServer(answers=accuracy) as server, httpx.Client(trust_env=False) as client:
        for i in range(40):
            question, expected = _item(i)
            body = {
                "model": "m1",
                "seed": i % 3,
                "messages": [{"role": "user", "content": question}],
            }
            reply = client.post(server.base_url + "/chat/completions", json=body).json()
            text = reply["choices"][0]["message"]["content"]
            assert text == accuracy.draw("m1", question, expected, i % 3).text
            gemini = {
                "contents": [{"role": "user", "parts": [{"text": question}]}],
                "generationConfig": {"seed": i % 3},
            }
            url = f"{server.url}/v1beta/models/m2:generateContent"
            data = client.post(url, json=gemini, headers={"x-goog-api-key": "k" * 8}).json()
            text = data["candidates"][0]["content"]["parts"][0]["text"]
            assert text == accuracy.draw("m2", question, expected, i % 3).text
        unmarked = {"model": "m1", "messages": [{"role": "user", "content": "no marker"}]}
        refused = client.post(server.base_url + "/chat/completions", json=unmarked)
        unknown = {"model": "m3", "messages": [{"role": "user", "content": _item(1)[0]}]}
        unpriced = client.post(server.base_url + "/chat/completions", json=unknown)
    assert refused.status_code == 500
    assert "[answer: X]" in refused.json()["error"]["message"]
    assert unpriced.status_code == 500
    assert "no probability for model 'm3'" in unpriced.json()["error"]["message"]
    assert "'*' entry" in unpriced.json()["error"]["message"]


def test_accuracy_in_a_child_process_and_with_a_question_mapping() -> None:
    accuracy = Accuracy({"*": 1.0}, correct={"capital of France": "Paris"}, seed=3)
    body = {"model": "x", "messages": [{"role": "user", "content": "capital of France?"}]}
    with (
        MockModelServer(answers=accuracy, in_process=True) as server,
        httpx.Client(trust_env=False, timeout=30) as client,
    ):
        reply = client.post(server.base_url + "/chat/completions", json=body).json()
    assert reply["choices"][0]["message"]["content"] == "Paris"
    with pytest.raises(MockServerError, match="cannot be sent to the child process"):
        MockModelServer(answers=Accuracy({"*": 0.5}, correct=lambda body: "x"), in_process=True)


def test_accuracy_and_an_answer_callable_exclude_each_other() -> None:
    with pytest.raises(MockServerError, match="give one of them"):
        MockModelServer(answers=Accuracy({"*": 0.5}), answer=lambda body: "x")


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda: Accuracy({}), "give a dict model name"),
        (lambda: Accuracy({"m": 1.2}), "number from 0 to 1"),
        (lambda: Accuracy({"m": 0.5}, wrong={"A": 0}), "weight > 0"),
        (lambda: Accuracy({"m": 0.5}, correct=42), "give None"),  # type: ignore[arg-type]
    ],
)
def test_bad_accuracy_settings_say_what_to_give(build: object, fragment: str) -> None:
    with pytest.raises(MockServerError, match=fragment):
        build()  # type: ignore[operator]
