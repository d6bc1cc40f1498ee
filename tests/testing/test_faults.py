"""Injected faults: statuses with Retry-After, timeouts, malformed bodies, disconnects."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from pytest_crucible.testing import Fault, MockModelServer, MockServerError

from .helpers import ANTHROPIC_HEADERS, anthropic_body, openai_body


def chat(client: httpx.Client, server: MockModelServer, text: str = "hi") -> httpx.Response:
    return client.post(server.base_url + "/chat/completions", json=openai_body(text))


def test_429_with_retry_after_then_answers(client: httpx.Client):
    with MockModelServer(faults=[Fault(status=429, retry_after=1.5, times=2)]) as server:
        responses = [chat(client, server) for _ in range(3)]
        stats = server.stats()
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "1.5"
    assert responses[0].headers["retry-after-ms"] == "1500"
    assert responses[0].json()["error"]["code"] == "rate_limit_exceeded"
    assert stats["faults"] == {"429": 2}
    assert stats["by_status"] == {"200": 1, "429": 2}


def test_whole_retry_after_is_an_integer_header(client: httpx.Client):
    with MockModelServer(faults=Fault(status=429, retry_after=2.0)) as server:
        assert chat(client, server).headers["Retry-After"] == "2"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502, 503, 504])
def test_each_status_in_openai_error_shape(client: httpx.Client, status: int):
    with MockModelServer(faults=[Fault(status=status)]) as server:
        response = chat(client, server)
    assert response.status_code == status
    assert "fault injected" in response.json()["error"]["message"]
    assert "Retry-After" not in response.headers


def test_500_on_messages_in_anthropic_error_shape(client: httpx.Client):
    with MockModelServer(faults=[Fault(status=500, message="boom")]) as server:
        url = server.url + "/v1/messages"
        response = client.post(url, json=anthropic_body(), headers=ANTHROPIC_HEADERS)
    assert response.status_code == 500
    assert response.json() == {"type": "error", "error": {"type": "api_error", "message": "boom"}}


def test_times_none_applies_to_every_request(client: httpx.Client):
    with MockModelServer(faults=[Fault(status=503, times=None)]) as server:
        assert {chat(client, server).status_code for _ in range(5)} == {503}
        assert server.faults()[0]["remaining"] is None


def test_faults_apply_in_order(client: httpx.Client):
    faults = [Fault(status=429, times=1), Fault(status=500, times=2)]
    with MockModelServer(faults=faults) as server:
        statuses = [chat(client, server).status_code for _ in range(4)]
    assert statuses == [429, 500, 500, 200]


def test_match_on_the_last_user_message(client: httpx.Client):
    with MockModelServer(faults=[Fault(status=500, match="France")]) as server:
        assert chat(client, server, "And Germany?").status_code == 200
        assert chat(client, server, "Capital of France?").status_code == 500
        assert chat(client, server, "Capital of France?").status_code == 200


def test_path_limits_a_fault_to_one_endpoint(client: httpx.Client):
    with MockModelServer(faults=[Fault(status=500, path="/v1/messages")]) as server:
        assert chat(client, server).status_code == 200
        url = server.url + "/v1/messages"
        response = client.post(url, json=anthropic_body(), headers=ANTHROPIC_HEADERS)
    assert response.status_code == 500


def test_timeout_holds_the_request_past_the_client_timeout(client: httpx.Client):
    server = MockModelServer(faults=[Fault(kind="timeout", delay=30.0)]).start()
    try:
        with pytest.raises(httpx.ReadTimeout):
            client.post(server.base_url + "/chat/completions", json=openai_body(), timeout=0.3)
        assert chat(client, server).status_code == 200
    finally:
        started = time.perf_counter()
        server.stop()
    # a held request (30 s) does not delay the stop; generous for a loaded machine
    assert time.perf_counter() - started < 10.0


def test_timeout_then_answer_or_drop(client: httpx.Client):
    faults = [Fault(kind="timeout", delay=0.2), Fault(kind="timeout", delay=0.1, then="drop")]
    with MockModelServer(faults=faults) as server:
        started = time.perf_counter()
        assert chat(client, server).status_code == 200
        assert time.perf_counter() - started >= 0.19
        with pytest.raises(httpx.RemoteProtocolError):
            chat(client, server)
        assert server.stats()["dropped"] == 1


def test_malformed_body(client: httpx.Client):
    with MockModelServer(faults=[Fault(kind="malformed", times=2)]) as server:
        responses = [chat(client, server) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[0].headers["content-type"].startswith("application/json")
    for response in responses[:2]:
        with pytest.raises(json.JSONDecodeError):
            response.json()
    assert responses[2].json()["object"] == "chat.completion"


def test_disconnect_closes_without_a_response(client: httpx.Client):
    with MockModelServer(faults=[Fault(kind="disconnect")]) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            chat(client, server)
        assert chat(client, server).status_code == 200
        stats = server.stats()
    assert stats["dropped"] == 1
    assert stats["faults"] == {"disconnect": 1}
    assert stats["by_status"] == {"200": 1}


def test_faults_do_not_touch_other_routes(client: httpx.Client):
    with MockModelServer(faults=[Fault(status=500, times=None)]) as server:
        assert client.get(server.base_url + "/models").status_code == 200
        assert client.get(server.url + "/health").status_code == 200


def test_set_faults_and_reset(mock_model_server: MockModelServer, client: httpx.Client):
    mock_model_server.set_faults([Fault(status=502)])
    assert chat(client, mock_model_server).status_code == 502
    mock_model_server.set_faults([Fault(status=504, times=None)])
    assert chat(client, mock_model_server).status_code == 504
    mock_model_server.reset()
    assert mock_model_server.faults() == []
    assert chat(client, mock_model_server).status_code == 200
    assert mock_model_server.stats()["by_status"] == {"200": 1}


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Fault(), "status="),
        (lambda: Fault(status=200), "400 to 599"),
        (lambda: Fault(status=500, times=0), "times"),
        (lambda: Fault(kind="timeout", status=500), "status applies only"),
        (lambda: Fault(kind="teapot"), "unknown kind"),  # type: ignore[arg-type]
        (lambda: Fault(kind="disconnect", retry_after=1), "retry_after"),
        (lambda: Fault(status=429, retry_after=-1), "retry_after"),
        (lambda: Fault(status=500, path="v1/messages"), "path"),
    ],
)
def test_invalid_faults_say_what_to_do(make, words: str):
    with pytest.raises(MockServerError, match=words):
        make()
