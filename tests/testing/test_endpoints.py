"""GET endpoints, unknown routes, the control endpoints and stats."""

from __future__ import annotations

import httpx

from pytest_crucible.testing import MockModelServer

from .helpers import ANTHROPIC_HEADERS, openai_body


def test_health(mock_model_server: MockModelServer, client: httpx.Client):
    response = client.get(mock_model_server.url + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert mock_model_server.stats()["requests"] == 0  # only /v1/ requests count


def test_models_in_each_api_shape(client: httpx.Client):
    with MockModelServer(models=["a", "b"]) as server:
        openai = client.get(server.base_url + "/models").json()
        anthropic = client.get(server.base_url + "/models", headers=ANTHROPIC_HEADERS).json()
    assert openai["object"] == "list"
    assert [(m["id"], m["object"]) for m in openai["data"]] == [("a", "model"), ("b", "model")]
    assert [(m["id"], m["type"]) for m in anthropic["data"]] == [("a", "model"), ("b", "model")]
    assert anthropic["has_more"] is False


def test_unknown_route_and_wrong_method_answer_json(
    mock_model_server: MockModelServer, client: httpx.Client
):
    missing = client.post(mock_model_server.base_url + "/completions", json={})
    wrong = client.get(mock_model_server.base_url + "/chat/completions")
    assert missing.status_code == 404
    assert "/v1/completions" in missing.json()["error"]["message"]
    assert wrong.status_code == 405
    assert mock_model_server.stats()["by_status"] == {"404": 1, "405": 1}


def test_stats_count_requests_paths_and_statuses(
    mock_model_server: MockModelServer, client: httpx.Client
):
    client.post(mock_model_server.base_url + "/chat/completions", json=openai_body())
    client.post(mock_model_server.base_url + "/chat/completions", json={})
    client.post(mock_model_server.url + "/v1/messages", json={}, headers=ANTHROPIC_HEADERS)
    stats = mock_model_server.stats()
    assert stats["requests"] == 3
    assert stats["in_flight"] == 0
    assert stats["max_in_flight"] == 1
    assert stats["by_status"] == {"200": 1, "400": 2}
    assert stats["by_path"] == {"/v1/chat/completions": 2, "/v1/messages": 1}
    mock_model_server.reset()
    assert mock_model_server.stats()["requests"] == 0
    assert mock_model_server.request_log() == []


def test_control_endpoints_over_http(mock_model_server: MockModelServer, client: httpx.Client):
    url = mock_model_server.url + "/_mock"
    faults = client.put(url + "/faults", json=[{"status": 503, "times": 2}])
    assert faults.json()[0]["remaining"] == 2
    chat = mock_model_server.base_url + "/chat/completions"
    assert client.post(chat, json=openai_body()).status_code == 503
    assert client.get(url + "/faults").json()[0]["remaining"] == 1
    assert client.get(url + "/stats").json()["faults"] == {"503": 1}
    assert client.get(url + "/requests").json()[0]["json"] == openai_body()
    bad = client.put(url + "/faults", json=[{"status": 200}])
    assert bad.status_code == 400
    assert "400 to 599" in bad.json()["error"]
    assert client.put(url + "/latency", json=0.01).json()["params"] == {"seconds": 0.01}
    assert client.post(url + "/reset").json() == {"ok": True}
    assert client.get(url + "/faults").json() == []
    assert client.get(url + "/stats").json()["requests"] == 0
