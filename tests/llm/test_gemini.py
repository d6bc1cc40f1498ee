"""GeminiBackend over real HTTP to the mock server speaking generateContent: the wire format,
usage and cost, retries (429 with Retry-After or RetryInfo, 503), no retry on 400/403/404,
errors that name the fix, the key only in its header, sync and async."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from pytest_crucible.llm import (
    GeminiBackend,
    ModelAuthError,
    ModelConfigError,
    ModelRequestError,
    ModelResponseError,
    ModelUnavailableError,
    PriceTable,
    RetryPolicy,
)
from pytest_crucible.llm._gemini_errors import retry_delay
from pytest_crucible.testing import Fault, MockModelServer

from .conftest import FAST

KEY = "gm-test-SECRET-5b1f0c7e42"
MODEL = "gemini-2.0-flash"


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)


def _last(server: MockModelServer) -> dict[str, Any]:
    return server.request_log()[-1]


@pytest.mark.usefixtures("keyed")
def test_chat_sends_the_wire_format_and_reads_usage_and_cost(server: MockModelServer) -> None:
    with GeminiBackend(server.url, retry=FAST) as backend:
        response = backend.chat(
            MODEL, "Name a colour.", system="Be brief.", max_tokens=40, top_p=0.9, seed=7, stop="."
        )
    assert response.content.startswith("Mock answer to: Name a colour.")
    assert response.finish_reason == "stop"
    assert response.model == MODEL  # modelVersion
    assert response.usage.input_tokens == 5  # "Be brief." + "Name a colour." in words
    assert response.usage.output_tokens == len(response.content.split())
    expected = PriceTable().cost(MODEL, response.usage)
    assert expected is not None and response.cost_usd == pytest.approx(expected)
    entry = _last(server)
    assert entry["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert entry["headers"]["x-goog-api-key"] == KEY
    assert entry["json"] == {
        "contents": [{"role": "user", "parts": [{"text": "Name a colour."}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "temperature": 0.0,
            "maxOutputTokens": 40,
            "candidateCount": 1,
            "topP": 0.9,
            "stopSequences": ["."],
            "seed": 7,
        },
    }


def test_key_from_the_constructor_or_google_api_key(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with GeminiBackend(server.url, api_key=KEY, retry=FAST) as backend:
        backend.chat(MODEL, "hi")
    assert _last(server)["headers"]["x-goog-api-key"] == KEY
    assert KEY not in repr(backend) and KEY not in str(vars(backend))
    monkeypatch.setenv("GOOGLE_API_KEY", "google-fallback-key")
    with GeminiBackend(server.url, retry=FAST) as backend:
        backend.chat(MODEL, "hi")
    assert _last(server)["headers"]["x-goog-api-key"] == "google-fallback-key"


@pytest.mark.usefixtures("keyed")
def test_conversation_roles_and_a_base_url_with_the_version(server: MockModelServer) -> None:
    messages = [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "and 3+3?"},
    ]
    with GeminiBackend(server.url + "/v1beta", retry=FAST) as backend:
        response = backend.chat("models/" + MODEL, messages, max_tokens=2)
    assert response.finish_reason == "length"  # the mock cut the answer at 2 words
    assert response.content == "Mock answer"
    entry = _last(server)
    assert entry["path"] == f"/v1beta/models/{MODEL}:generateContent"
    roles = [content["role"] for content in entry["json"]["contents"]]
    assert roles == ["user", "model", "user"]


@pytest.mark.usefixtures("keyed")
def test_429_and_503_are_retried_honouring_the_delay(server: MockModelServer) -> None:
    waits: list[float] = []
    policy = RetryPolicy(initial_delay=0.01, max_delay=0.05, sleep=waits.append)
    server.set_faults([Fault(status=429, retry_after=3.0), Fault(status=503)])
    with GeminiBackend(server.url, retry=policy) as backend:
        response = backend.chat(MODEL, "hello")
    assert response.attempts == 3
    assert waits[0] == 3.0  # the Retry-After (and RetryInfo) of the 429
    assert waits[1] <= 0.05
    assert server.stats()["by_status"] == {"200": 1, "429": 1, "503": 1}


def test_the_retryinfo_delay_is_read_without_a_header() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "quota",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17.5s"},
            ],
        }
    }
    assert retry_delay(httpx.Response(429, json=body)) == 17.5
    assert retry_delay(httpx.Response(429, json={"error": {"code": 429}})) is None
    assert retry_delay(httpx.Response(429, content=b"not json")) is None


@pytest.mark.usefixtures("keyed")
def test_retries_exhausted_say_so(server: MockModelServer) -> None:
    server.set_faults([Fault(status=503, times=None)])
    with (
        GeminiBackend(server.url, retry=RetryPolicy(max_attempts=2, initial_delay=0.01)) as b,
        pytest.raises(ModelUnavailableError) as caught,
    ):
        b.chat(MODEL, "hello")
    assert caught.value.attempts == 2
    assert "retries exhausted" in str(caught.value)


@pytest.mark.usefixtures("keyed")
def test_a_wrong_key_is_an_auth_error_naming_where_to_set_it(server: MockModelServer) -> None:
    message = "API key not valid. Please pass a valid API key."
    server.set_faults([Fault(status=400, message=message)])
    with (
        GeminiBackend(server.url, retry=FAST) as backend,
        pytest.raises(ModelAuthError) as caught,
    ):
        backend.chat(MODEL, "hello")
    error = caught.value
    assert error.attempts == 1 and error.status == 400
    assert "GEMINI_API_KEY" in error.hint and "GOOGLE_API_KEY" in error.hint
    assert KEY not in str(error)
    assert server.stats()["requests"] == 1  # not retried


@pytest.mark.usefixtures("keyed")
def test_403_and_404_are_not_retried_and_name_the_fix(server: MockModelServer) -> None:
    server.set_faults([Fault(status=403), Fault(status=404)])
    with GeminiBackend(server.url, retry=FAST) as backend:
        with pytest.raises(ModelAuthError) as denied:
            backend.chat(MODEL, "hello")
        with pytest.raises(ModelRequestError) as missing:
            backend.chat("gemini-nope", "hello")
    assert "GEMINI_API_KEY" in denied.value.hint
    assert "check the model name 'gemini-nope'" in missing.value.hint
    assert server.stats()["requests"] == 2


def test_without_a_key_nothing_is_sent(server: MockModelServer) -> None:
    with (
        GeminiBackend(server.url, retry=FAST) as backend,
        pytest.raises(ModelConfigError) as caught,
    ):
        backend.chat(MODEL, "hello")
    assert "GEMINI_API_KEY" in str(caught.value) and "GOOGLE_API_KEY" in str(caught.value)
    assert server.stats()["requests"] == 0


@pytest.mark.usefixtures("keyed")
def test_tools_are_refused_before_sending(server: MockModelServer) -> None:
    tool = {"name": "add", "description": "adds", "parameters": {"type": "object"}}
    with (
        GeminiBackend(server.url, retry=FAST) as backend,
        pytest.raises(ModelConfigError, match="does not send tools"),
    ):
        backend.chat(MODEL, "hello", tools=[tool])
    assert server.stats()["requests"] == 0


@pytest.mark.usefixtures("keyed")
def test_a_malformed_answer_is_a_response_error(server: MockModelServer) -> None:
    server.set_faults([Fault(kind="malformed")])
    with (
        GeminiBackend(server.url, retry=FAST) as backend,
        pytest.raises(ModelResponseError, match="not a JSON object"),
    ):
        backend.chat(MODEL, "hello")


@pytest.mark.usefixtures("keyed")
def test_async_calls_match_sync_calls(server: MockModelServer) -> None:
    backend = GeminiBackend(server.url, retry=FAST)
    server.set_faults([Fault(status=429, retry_after=0.01)])

    async def run() -> list[str]:
        async with backend:
            answers = await asyncio.gather(*(backend.achat(MODEL, f"q{i}") for i in range(4)))
        return [answer.content for answer in answers]

    contents = asyncio.run(run())
    with backend:
        assert contents == [backend.chat(MODEL, f"q{i}").content for i in range(4)]
    assert server.stats()["by_status"] == {"200": 8, "429": 1}


# -- safety blocks: a tiny real HTTP server answering what Gemini answers when it blocks --------

BLOCKED_ANSWER = {
    "candidates": [
        {
            "finishReason": "SAFETY",
            "safetyRatings": [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"},
                {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
            ],
        }
    ],
    "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
}
BLOCKED_PROMPT = {"promptFeedback": {"blockReason": "SAFETY"}}


@pytest.fixture
def blocking_server() -> Iterator[str]:
    answers = iter([BLOCKED_ANSWER, BLOCKED_PROMPT])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            body = json.dumps(next(answers)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join(timeout=30)
    httpd.server_close()


@pytest.mark.usefixtures("keyed")
def test_safety_blocks_say_so(blocking_server: str) -> None:
    with GeminiBackend(blocking_server, retry=FAST) as backend:
        with pytest.raises(ModelResponseError) as answer:
            backend.chat(MODEL, "something")
        with pytest.raises(ModelResponseError) as prompt:
            backend.chat(MODEL, "something")
    assert "blocked the answer (finishReason SAFETY): HARASSMENT (HIGH)" in str(answer.value)
    assert "safetySettings" in answer.value.hint
    assert "blocked the prompt (promptFeedback.blockReason SAFETY)" in str(prompt.value)


def test_gemini_names_are_priced_with_versions_and_prefixes() -> None:
    prices = PriceTable()
    flash = prices.price("gemini-2.0-flash")
    assert flash is not None
    assert prices.price("models/gemini-2.0-flash") == flash
    assert prices.price("gemini-1.5-flash-002") == prices.price("gemini-1.5-flash")
    assert prices.price("gemini-2.0-flash-exp-image") is None  # nothing looser
