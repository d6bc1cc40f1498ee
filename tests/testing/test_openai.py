"""POST /v1/chat/completions: the response shape, answers, tool calls, validation."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from pytest_crucible.testing import MockModelServer

from .helpers import QUESTION, openai_body


def post(client: httpx.Client, server: MockModelServer, body: Any, **kw: Any) -> httpx.Response:
    return client.post(server.base_url + "/chat/completions", json=body, **kw)


def test_response_has_the_openai_shape(mock_model_server: MockModelServer, client: httpx.Client):
    response = post(client, mock_model_server, openai_body())
    assert response.status_code == 200
    data = response.json()
    assert data["id"].startswith("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert isinstance(data["created"], int)
    assert data["model"] == "gpt-test"
    [choice] = data["choices"]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert QUESTION in choice["message"]["content"]
    assert "tool_calls" not in choice["message"]
    usage = data["usage"]
    assert usage["prompt_tokens"] == len(QUESTION.split())
    assert usage["completion_tokens"] == len(choice["message"]["content"].split())
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_bearer_authorization_is_accepted_but_not_required(
    mock_model_server: MockModelServer, client: httpx.Client
):
    with_key = post(client, mock_model_server, openai_body(), headers={"Authorization": "Bearer k"})
    without = post(client, mock_model_server, openai_body())
    assert with_key.status_code == without.status_code == 200
    assert with_key.json()["choices"] == without.json()["choices"]
    log = mock_model_server.request_log()
    assert log[0]["headers"]["Authorization"] == "Bearer k"
    assert log[1]["json"] == openai_body()


def test_same_request_same_answer_across_servers(client: httpx.Client):
    body = openai_body(temperature=0.7, seed=3)
    answers = []
    for _ in range(2):
        with MockModelServer() as server:
            answers += [post(client, server, body).json() for _ in range(2)]
    assert len({a["choices"][0]["message"]["content"] for a in answers}) == 1
    assert len({a["id"] for a in answers}) == 1


def content(client: httpx.Client, server: MockModelServer, **extra: Any) -> str:
    answer: str = post(client, server, openai_body(**extra)).json()["choices"][0]["message"][
        "content"
    ]
    return answer


def test_seed_changes_the_answer_only_when_sampling(
    mock_model_server: MockModelServer, client: httpx.Client
):
    sampled = {content(client, mock_model_server, temperature=0.7, seed=s) for s in (1, 2)}
    greedy = {content(client, mock_model_server, temperature=0, seed=s) for s in (1, 2)}
    assert len(sampled) == 2
    assert len(greedy) == 1
    assert all(QUESTION in answer for answer in sampled | greedy)


def test_answers_dict_picks_a_reply_by_substring(client: httpx.Client):
    with MockModelServer(answers={"capital of France": "Paris", "Japan": "Tokyo"}) as server:
        assert content(client, server) == "Paris"
        other = post(client, server, openai_body("And Japan?")).json()
        unknown = post(client, server, openai_body("Hello")).json()
    assert other["choices"][0]["message"]["content"] == "Tokyo"
    assert "Hello" in unknown["choices"][0]["message"]["content"]


def test_answer_callable_gets_the_request_json(client: httpx.Client):
    seen: list[dict[str, Any]] = []

    def answer(request: dict[str, Any]) -> str:
        seen.append(request)
        return f"{len(request['messages'])} message(s) for {request['model']}"

    with MockModelServer(answer=answer) as server:
        assert content(client, server) == "1 message(s) for gpt-test"
    assert seen == [openai_body()]


def test_async_answer_callable(client: httpx.Client):
    async def answer(request: dict[str, Any]) -> str:
        return "async reply"

    with MockModelServer(answer=answer) as server:
        assert content(client, server) == "async reply"


def test_tool_calls_in_openai_shape_with_deterministic_ids(client: httpx.Client):
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}

    with MockModelServer(answer=answer) as server:
        first, second = (post(client, server, openai_body()).json() for _ in range(2))
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 1, "b": 2}
    assert second["choices"][0]["message"]["tool_calls"][0]["id"] == call["id"]


def test_max_tokens_truncates_and_reports_length(
    mock_model_server: MockModelServer, client: httpx.Client
):
    for field in ("max_tokens", "max_completion_tokens"):
        data = post(client, mock_model_server, openai_body(**{field: 2})).json()
        choice = data["choices"][0]
        assert choice["finish_reason"] == "length"
        assert choice["message"]["content"] == "Mock answer"
        assert data["usage"]["completion_tokens"] == 2


def test_answer_errors_become_500_naming_the_problem(client: httpx.Client):
    def broken(request: dict[str, Any]) -> str:
        raise ValueError("no reply for you")

    with MockModelServer(answer=broken) as server:
        response = post(client, server, openai_body())
    assert response.status_code == 500
    assert "ValueError: no reply for you" in response.json()["error"]["message"]


def test_answer_of_the_wrong_type_becomes_500(client: httpx.Client):
    with MockModelServer(answer=lambda request: 42) as server:  # type: ignore[arg-type,return-value]
        response = post(client, server, openai_body())
    assert response.status_code == 500
    assert "return a string or a dict" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, ["model"]),
        ({"model": "m"}, ["messages"]),
        ({"model": "m", "messages": []}, ["messages", "non-empty"]),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, ["role", "robot"]),
        ({"model": "m", "messages": [{"role": "user"}]}, ["content", "required"]),
        (openai_body(temperature=3), ["temperature"]),
        (openai_body(max_tokens=0), ["max_tokens"]),
        (openai_body(stream=True), ["stream"]),
        (["not", "an", "object"], ["JSON object"]),
    ],
)
def test_invalid_requests_get_400_naming_the_problem(
    mock_model_server: MockModelServer, client: httpx.Client, body: Any, words: list[str]
):
    response = post(client, mock_model_server, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert all(word in error["message"] for word in words), error


def test_non_json_body_gets_400(mock_model_server: MockModelServer, client: httpx.Client):
    url = mock_model_server.base_url + "/chat/completions"
    response = client.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
    assert mock_model_server.request_log()[0]["body"] == "{not json"
