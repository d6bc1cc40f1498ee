"""The model-graded scorer: parsing a judge's answer (a table of answers), and `judge` /
`ajudge` over real HTTP to the mock model server with both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_crucible import scorers
from pytest_crucible.errors import ScorerError
from pytest_crucible.llm import AnthropicBackend, OpenAICompatibleBackend, PriceTable
from pytest_crucible.testing import MockModelServer


@pytest.mark.parametrize(
    ("answer", "scale", "score", "passed", "reasoning"),
    [
        ('{"reasoning": "Correct city.", "score": 1}', (0, 1), 1.0, True, "Correct city."),
        ('```json\n{"score": 0.25, "explanation": "vague"}\n```', (0, 1), 0.25, False, "vague"),
        ('Here it is: {"score": "8/10", "reasoning": "good"} done', (1, 10), 8.0, True, "good"),
        ('{"verdict": "PASS", "reasoning": "fine"}', (0, 1), 1.0, True, "fine"),
        ('{"passed": false}', (0, 1), 0.0, False, ""),
        ("The answer names Lyon, not Paris.\nSCORE: 2", (1, 10), 2.0, False, "Lyon"),
        ("**Score:** 9\nexcellent", (1, 10), 9.0, True, "excellent"),
        ("SCORE: 5.5", (1, 10), 5.5, True, ""),  # the middle of the scale passes
        ("I cannot grade this.", (0, 1), None, False, "unreadable judge answer"),
        ('{"score": 15}', (1, 10), None, False, "outside the scale 1-10"),
        ('{"score": "n/a"}', (0, 1), None, False, "unreadable"),
    ],
)
def test_parse_judgement(
    answer: str,
    scale: tuple[float, float],
    score: float | None,
    passed: bool,
    reasoning: str,
) -> None:
    got_score, got_passed, got_reasoning = scorers.parse_judgement(answer, scale=scale)
    assert (got_score, got_passed) == (score, passed)
    assert reasoning in got_reasoning


def test_threshold_decides_passed() -> None:
    assert scorers.parse_judgement("SCORE: 6", scale=(1, 10), threshold=7)[1] is False
    assert scorers.parse_judgement("SCORE: 7", scale=(1, 10), threshold=7)[1] is True


def _grade(request: dict[str, Any]) -> str:
    """The judge's answers by the response it is shown (the last user message)."""
    text = request["messages"][-1]["content"]
    response = text.rsplit("RESPONSE:", 1)[1]
    if "Paris" in response:
        return json.dumps({"reasoning": "It names Paris, as the reference does.", "score": 1})
    if "Lyon" in response:
        return "Lyon is not the capital.\nSCORE: 0"
    return "I would rather not say."


@pytest.fixture(scope="module")
def server() -> Iterator[MockModelServer]:
    with MockModelServer(answer=_grade) as running:
        yield running


PRICES = PriceTable({"mock-model": (1000.0, 2000.0)})
RUBRIC = "The response must name the capital city given in the reference answer."


def test_judge_grades_over_http_and_reports_usage_and_cost(server: MockModelServer) -> None:
    with OpenAICompatibleBackend(server.base_url, prices=PRICES) as backend:
        verdict = scorers.judge(
            "It is Paris.",
            rubric=RUBRIC,
            backend=backend,
            model="mock-model",
            item="What is the capital of France?",
            expected="Paris",
        )
    assert verdict.score == 1.0 and verdict.passed
    assert verdict.reasoning == "It names Paris, as the reference does."
    usage = verdict.usage
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    cost = (usage["input_tokens"] * 1000 + usage["output_tokens"] * 2000) / 1e6
    assert usage["cost_usd"] == pytest.approx(cost)
    sent = server.request_log()[-1]["json"]
    assert sent["temperature"] == 0.0
    prompt = sent["messages"][-1]["content"]
    assert "What is the capital of France?" in prompt and RUBRIC in prompt
    assert "REFERENCE ANSWER:\nParis" in prompt
    assert verdict.to_dict()["reasoning"] == verdict.reasoning


def test_ajudge_with_anthropic_and_unreadable_answers(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")

    async def grade_two() -> list[scorers.Judgement]:
        async with AnthropicBackend(server.url) as backend:
            return [
                await scorers.ajudge(
                    output, rubric=RUBRIC, backend=backend, model="mock-model", scale=(0, 1)
                )
                for output in ("Lyon", "Marseille")
            ]

    lyon, unreadable = asyncio.run(grade_two())
    assert (lyon.score, lyon.passed, lyon.reasoning) == (0.0, False, "Lyon is not the capital.")
    assert unreadable.score is None and not unreadable.passed
    assert "unreadable judge answer" in unreadable.reasoning
    assert unreadable.raw == "I would rather not say."
    assert unreadable.metric_value("binary") is False
    with pytest.raises(ScorerError, match="held no score"):
        unreadable.metric_value("continuous")


def test_bad_judge_arguments_are_clear_errors(server: MockModelServer) -> None:
    with OpenAICompatibleBackend(server.base_url) as backend:
        with pytest.raises(ScorerError, match="rubric= must be a non-empty text"):
            scorers.judge("x", rubric=" ", backend=backend, model="mock-model")
        with pytest.raises(ScorerError, match="lowest < highest"):
            scorers.judge("x", rubric=RUBRIC, backend=backend, model="m", scale=(5, 1))
        with pytest.raises(ScorerError, match="outside the scale"):
            scorers.judged(rubric=RUBRIC, backend=backend, model="m", threshold=3)
