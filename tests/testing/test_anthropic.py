"""POST /v1/messages: the Anthropic shape, its headers, tool use, validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pytest_crucible.testing import MockModelServer

from .helpers import ANTHROPIC_HEADERS, QUESTION, anthropic_body


def post(
    client: httpx.Client,
    server: MockModelServer,
    body: Any,
    headers: dict[str, str] = ANTHROPIC_HEADERS,
) -> httpx.Response:
    return client.post(server.url + "/v1/messages", json=body, headers=headers)


def test_response_has_the_anthropic_shape(mock_model_server: MockModelServer, client: httpx.Client):
    body = anthropic_body(system="Answer briefly.")
    response = post(client, mock_model_server, body)
    assert response.status_code == 200
    data = response.json()
    assert data["id"].startswith("msg_")
    assert data["type"] == "message"
    assert data["role"] == "assistant"
    assert data["model"] == "claude-test"
    [block] = data["content"]
    assert block["type"] == "text"
    assert QUESTION in block["text"]
    assert data["stop_reason"] == "end_turn"
    assert data["usage"] == {
        "input_tokens": len(QUESTION.split()) + 2,
        "output_tokens": len(block["text"].split()),
    }


def test_same_request_same_message(mock_model_server: MockModelServer, client: httpx.Client):
    first = post(client, mock_model_server, anthropic_body()).json()
    second = post(client, mock_model_server, anthropic_body()).json()
    assert first["content"] == second["content"]
    assert first["id"] == second["id"]


def test_content_blocks_and_tool_results_count_as_user_text(
    mock_model_server: MockModelServer, client: httpx.Client
):
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Add 1 and 2"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "add"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "3"}]},
    ]
    body = {"model": "claude-test", "max_tokens": 50, "messages": messages}
    data = post(client, mock_model_server, body).json()
    assert data["content"][0]["text"].startswith("Mock answer to: 3 [")


def test_tool_use_blocks(client: httpx.Client):
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        return {"content": "Let me add.", "tool_calls": [{"name": "add", "arguments": {"a": 1}}]}

    with MockModelServer(answer=answer) as server:
        data = post(client, server, anthropic_body()).json()
        again = post(client, server, anthropic_body()).json()
    text, tool = data["content"]
    assert text == {"type": "text", "text": "Let me add."}
    assert tool["type"] == "tool_use"
    assert tool["id"].startswith("toolu_")
    assert tool["name"] == "add"
    assert tool["input"] == {"a": 1}
    assert data["stop_reason"] == "tool_use"
    assert again["content"][1]["id"] == tool["id"]


def test_max_tokens_truncates(mock_model_server: MockModelServer, client: httpx.Client):
    data = post(client, mock_model_server, anthropic_body(max_tokens=3)).json()
    assert data["content"][0]["text"] == "Mock answer to:"
    assert data["stop_reason"] == "max_tokens"
    assert data["usage"]["output_tokens"] == 3


def test_missing_api_key_is_401_in_anthropic_shape(
    mock_model_server: MockModelServer, client: httpx.Client
):
    response = post(
        client, mock_model_server, anthropic_body(), {"anthropic-version": "2023-06-01"}
    )
    assert response.status_code == 401
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "authentication_error"
    assert "x-api-key" in response.json()["error"]["message"]


def test_missing_anthropic_version_is_400(mock_model_server: MockModelServer, client: httpx.Client):
    response = post(client, mock_model_server, anthropic_body(), {"x-api-key": "k"})
    assert response.status_code == 400
    assert "anthropic-version" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 5}, "messages"),
        (anthropic_body(messages=[{"role": "system", "content": "x"}]), "role"),
        (anthropic_body(temperature=1.5), "temperature"),
    ],
)
def test_invalid_requests_get_400_in_anthropic_shape(
    mock_model_server: MockModelServer, client: httpx.Client, body: dict[str, Any], word: str
):
    response = post(client, mock_model_server, body)
    assert response.status_code == 400
    data = response.json()
    assert data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    assert word in data["error"]["message"]


def test_non_json_body_gets_400(mock_model_server: MockModelServer, client: httpx.Client):
    url = mock_model_server.url + "/v1/messages"
    response = client.post(url, content=b"][", headers=ANTHROPIC_HEADERS)
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]
