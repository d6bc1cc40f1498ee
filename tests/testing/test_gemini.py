"""POST /v1beta/models/{model}:generateContent: Gemini's shape, its key header, validation,
faults in its error format."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pytest_crucible.testing import Fault, MockModelServer

from .helpers import QUESTION

HEADERS = {"x-goog-api-key": "test-gemini-key"}


def gemini_body(text: str = QUESTION, **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    return body | ({"generationConfig": config} if config else {})


def post(
    client: httpx.Client,
    server: MockModelServer,
    body: Any,
    model: str = "gemini-test",
    headers: dict[str, str] = HEADERS,
) -> httpx.Response:
    url = f"{server.url}/v1beta/models/{model}:generateContent"
    return client.post(url, json=body, headers=headers)


def test_response_has_the_gemini_shape(mock_model_server: MockModelServer, client: httpx.Client):
    body = gemini_body() | {"systemInstruction": {"parts": [{"text": "Answer briefly."}]}}
    response = post(client, mock_model_server, body)
    assert response.status_code == 200
    data = response.json()
    [candidate] = data["candidates"]
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["role"] == "model"
    [part] = candidate["content"]["parts"]
    assert part["text"].startswith(f"Mock answer to: {QUESTION}")
    prompt = len(QUESTION.split()) + 2
    output = len(part["text"].split())
    assert data["usageMetadata"] == {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
    }
    assert data["modelVersion"] == "gemini-test"


def test_max_output_tokens_cuts_the_answer(
    mock_model_server: MockModelServer, client: httpx.Client
):
    data = post(client, mock_model_server, gemini_body(maxOutputTokens=2)).json()
    assert data["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert data["candidates"][0]["content"]["parts"][0]["text"] == "Mock answer"


def test_the_key_header_is_required_and_a_key_in_the_url_refused(
    mock_model_server: MockModelServer, client: httpx.Client
):
    missing = post(client, mock_model_server, gemini_body(), headers={})
    assert missing.status_code == 403
    assert missing.json()["error"]["status"] == "PERMISSION_DENIED"
    url = f"{mock_model_server.url}/v1beta/models/gemini-test:generateContent?key=abcdefgh1234"
    in_url = client.post(url, json=gemini_body())
    assert in_url.status_code == 400
    assert "x-goog-api-key header" in in_url.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "contents is not specified"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "role must be one of"),
        ({"contents": [{"role": "user"}]}, "'parts' array"),
        (gemini_body(candidateCount=2), "one candidate"),
        (gemini_body(temperature=3), "between 0 and 2"),
        (gemini_body(seed="x"), "'seed' must be an integer"),
    ],
)
def test_invalid_requests_get_400_invalid_argument(
    mock_model_server: MockModelServer, client: httpx.Client, body: Any, fragment: str
):
    response = post(client, mock_model_server, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert fragment in error["message"]


def test_other_methods_are_not_found(mock_model_server: MockModelServer, client: httpx.Client):
    url = f"{mock_model_server.url}/v1beta/models/gemini-test:streamGenerateContent"
    response = client.post(url, json=gemini_body(), headers=HEADERS)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == "NOT_FOUND"


def test_faults_answer_in_gemini_form_with_retry_info(
    mock_model_server: MockModelServer, client: httpx.Client
):
    mock_model_server.set_faults(
        [Fault(status=429, retry_after=2.5), Fault(status=503), Fault(kind="malformed")]
    )
    limited = post(client, mock_model_server, gemini_body())
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "2.5"
    error = limited.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}
    ]
    assert post(client, mock_model_server, gemini_body()).json()["error"]["status"] == "UNAVAILABLE"
    malformed = post(client, mock_model_server, gemini_body())
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    assert post(client, mock_model_server, gemini_body()).status_code == 200
    stats = mock_model_server.stats()
    assert stats["faults"] == {"429": 1, "503": 1, "malformed": 1}
    assert stats["by_path"] == {"/v1beta/models/gemini-test:generateContent": 4}


def test_scripted_answers_match_the_last_user_text(client: httpx.Client):
    with MockModelServer(answers={"capital": "Paris"}) as server:
        contents = [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello"}]},
            {"role": "user", "parts": [{"text": "The capital of France?"}]},
        ]
        data = post(client, server, {"contents": contents}).json()
    assert data["candidates"][0]["content"]["parts"] == [{"text": "Paris"}]


def test_the_child_process_server_speaks_gemini(client: httpx.Client):
    with MockModelServer(in_process=True, answers={"capital": "Paris"}) as server:
        data = post(client, server, gemini_body("The capital?")).json()
    assert data["candidates"][0]["content"]["parts"] == [{"text": "Paris"}]
