"""Client lifecycle, conveniences, and the requests the backends refuse to send."""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import trustme

from loopback_http import serving
from pytest_crucible.errors import CrucibleError
from pytest_crucible.llm import (
    AnthropicBackend,
    ChatMessage,
    ModelCallError,
    ModelConfigError,
    ModelResponseError,
    OpenAICompatibleBackend,
    achat,
    chat,
)
from pytest_crucible.testing import MockModelServer

from .conftest import FAST


def test_close_releases_the_clients_and_reuse_reopens_them(server: MockModelServer) -> None:
    backend = OpenAICompatibleBackend(server.base_url, retry=FAST)
    with backend:
        backend.chat("mock-model", "a")
        client = backend._pool.client()
    assert client.is_closed
    assert backend.chat("mock-model", "b").content  # a new client
    backend.close()
    backend.close()  # idempotent


def test_one_backend_serves_several_event_loops(server: MockModelServer) -> None:
    backend = OpenAICompatibleBackend(server.base_url, retry=FAST)
    answers = [asyncio.run(backend.achat("mock-model", f"x{i}")).content for i in range(3)]
    assert len(set(answers)) == 3
    assert backend._pool.open_loops == 0  # each loop's client was closed with its loop
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(backend.achat("mock-model", "y")).content
        assert backend._pool.open_loops == 1
        backend.close()  # closes that loop's client from outside it
        assert backend._pool.open_loops == 0
    finally:
        loop.close()


def test_clients_given_by_the_caller_are_used_not_closed(server: MockModelServer) -> None:
    own = httpx.Client()
    with OpenAICompatibleBackend(server.base_url, retry=FAST, client=own) as backend:
        backend.chat("mock-model", "hi")
    assert not own.is_closed
    own.close()


def test_chat_builds_the_request(server: MockModelServer) -> None:
    backend = OpenAICompatibleBackend(server.base_url, retry=FAST)
    request = backend.request(
        "m",
        [{"role": "user", "content": "hi"}, ChatMessage(role="assistant", content="hello")],
        system="Be kind.",
        stop="\n",
        tools=[{"name": "f", "description": "does f"}],
        max_tokens=7,
    )
    assert [m.role for m in request.messages] == ["system", "user", "assistant"]
    assert request.stop == ("\n",)
    assert request.tools[0].name == "f"
    assert request.max_tokens == 7


def test_unknown_chat_parameters_are_named(server: MockModelServer) -> None:
    backend = OpenAICompatibleBackend(server.base_url, retry=FAST)
    with pytest.raises(ModelConfigError) as raised:
        backend.chat("mock-model", "hi", temprature=0.5)
    message = str(raised.value)
    assert "temprature" in message
    assert "temperature" in message
    assert "extra={...}" in message
    with pytest.raises(ModelConfigError, match="no messages"):
        backend.chat("mock-model", [])
    assert server.stats()["requests"] == 0


def test_a_tool_answer_needs_its_call_id(server: MockModelServer) -> None:
    messages = [{"role": "user", "content": "hi"}, {"role": "tool", "content": "42"}]
    for backend in (
        OpenAICompatibleBackend(server.base_url, retry=FAST),
        AnthropicBackend(server.url, api_key_env="PATH", retry=FAST),
    ):
        with pytest.raises(ModelConfigError, match="message 2 has role 'tool' but no tool_call_id"):
            backend.chat("mock-model", messages)
    assert server.stats()["requests"] == 0


def test_anthropic_without_a_key_says_which_variable_to_set(server: MockModelServer) -> None:
    with (
        AnthropicBackend(server.url, retry=FAST) as backend,
        pytest.raises(ModelConfigError) as raised,
    ):
        backend.chat("mock-model", "hi")
    message = str(raised.value)
    assert "ANTHROPIC_API_KEY is not set" in message
    assert "export ANTHROPIC_API_KEY=" in message
    assert raised.value.attempts == 0
    assert server.stats()["requests"] == 0


def test_a_url_that_is_not_http_is_a_configuration_error() -> None:
    backend = OpenAICompatibleBackend("ftp://127.0.0.1/v1", retry=FAST)
    with (
        backend,
        pytest.raises(ModelConfigError, match=re.escape("check base_url='ftp://127.0.0.1/v1'")),
    ):
        backend.chat("m", "hi")


def _answering(body: Any) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, json=body))


def test_tool_arguments_that_are_not_json_are_a_clear_error() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{a: 1"}}
    body = {
        "model": "m",
        "choices": [{"message": {"content": None, "tool_calls": [call]}, "finish_reason": "x"}],
    }
    client = httpx.Client(transport=_answering(body))
    backend = OpenAICompatibleBackend("http://model.test/v1", retry=FAST, client=client)
    with pytest.raises(ModelResponseError) as raised:
        backend.chat("m", "add")
    message = str(raised.value)
    assert "tool 'add' with arguments that are not a JSON object: '{a: 1'" in message
    assert "malformed tool arguments" in message


def test_answers_of_the_wrong_shape_are_clear_errors() -> None:
    for body, expected in [
        ({"error": {"message": "model overloaded"}}, "an error instead of a completion"),
        ({"choices": []}, "no choices[0].message"),
    ]:
        client = httpx.Client(transport=_answering(body))
        backend = OpenAICompatibleBackend("http://model.test/v1", retry=FAST, client=client)
        with pytest.raises(ModelResponseError, match=re.escape(expected)):
            backend.chat("m", "hi")


def test_finish_reasons_other_than_the_usual_are_kept() -> None:
    body = {"choices": [{"message": {"content": "x"}, "finish_reason": "content_filter"}]}
    client = httpx.Client(transport=_answering(body))
    backend = OpenAICompatibleBackend("http://model.test/v1", retry=FAST, client=client)
    response = backend.chat("m", "hi")
    assert response.finish_reason == "content_filter"
    assert response.model == "m"  # the answer named none: the requested model


def test_the_chat_helpers_return_text_and_send_no_key(
    server: MockModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "not-for-local-servers")
    messages = [{"role": "user", "content": "hi"}]
    answer = chat(server.base_url, "mock-model", messages)
    assert answer.startswith("Mock answer to: hi")
    assert asyncio.run(achat(server.base_url, "mock-model", messages)) == answer
    for logged in server.request_log():
        assert "authorization" not in {k.lower() for k in logged["headers"]}
        assert logged["json"]["seed"] == 0
    with httpx.Client() as own:
        assert chat(server.base_url, "mock-model", messages, client=own) == answer
        assert not own.is_closed
    with pytest.raises(CrucibleError, match="at least one message"):
        chat(server.base_url, "mock-model", [])
    json.dumps(answer)


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy on loopback that answers every request itself, as the model would,
    and keeps the request lines it saw (a proxied request names the whole URL)."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).seen.append(f"{self.command} {self.path}")
        body = json.dumps(
            {
                "model": "mock-model",
                "choices": [{"message": {"role": "assistant", "content": "via proxy"}, "index": 0}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    with serving(_Proxy) as address:
        yield address


def test_async_calls_go_through_the_proxy_of_the_environment(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with httpx: HTTP_PROXY carries the calls to an http URL, NO_PROXY exempts hosts
    (the model's host below does not resolve: only the proxy can answer for it)."""
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    backend = OpenAICompatibleBackend("http://model.invalid/v1", api_key_env=None, retry=FAST)

    async def ask() -> str:
        async with backend:
            return (await backend.achat("mock-model", "hello")).content

    assert asyncio.run(ask()) == "via proxy"
    assert _Proxy.seen == ["POST http://model.invalid/v1/chat/completions"]

    monkeypatch.setenv("NO_PROXY", "model.invalid")
    with pytest.raises(ModelCallError, match="connection error"):
        asyncio.run(ask())
    assert len(_Proxy.seen) == 1


def test_async_calls_verify_https_as_httpx_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An https model is verified with httpx's certificates (certifi, or SSL_CERT_FILE): a
    loopback server whose certificate a test authority signed is refused, at once and saying
    what to do, until SSL_CERT_FILE names that authority. (The async client makes its
    context at the first https call: aiohttp's, made at import, would not see the variable.)"""
    authority = trustme.CA()
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("127.0.0.1").configure_cert(served)
    bundle = tmp_path / "authority.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    _Proxy.seen = []  # it answers as the model would (here a model behind https, no proxy)

    async def ask(address: str) -> str:
        backend = OpenAICompatibleBackend(f"{address}/v1", api_key_env=None, retry=FAST)
        async with backend:
            return (await backend.achat("mock-model", "hello")).content

    with serving(_Proxy, tls=served) as address:
        assert address.startswith("https://")
        with pytest.raises(ModelConfigError) as refused:
            asyncio.run(ask(address))
        said = str(refused.value)
        assert "the server's TLS certificate could not be verified" in said
        assert "CERTIFICATE_VERIFY_FAILED" in said and "SSL_CERT_FILE" in said
        assert refused.value.attempts == 1  # not retried: the certificate stays as it is
        plain = OpenAICompatibleBackend(f"{address}/v1", api_key_env=None, retry=FAST)
        with plain, pytest.raises(ModelConfigError, match="TLS certificate could not be"):
            plain.chat("mock-model", "hello")  # the sync client says the same
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        assert asyncio.run(ask(address)) == "via proxy"
    assert _Proxy.seen == ["POST /v1/chat/completions"]
