"""in_process=True: the server in a child process, controlled over HTTP, ended cleanly."""

from __future__ import annotations

import os

import httpx
import pytest

from pytest_crucible.testing import Fault, Latency, MockModelServer, MockServerError

from .helpers import openai_body


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_child_process_serves_is_controlled_and_is_reaped(client: httpx.Client):
    server = MockModelServer(
        in_process=True,
        answers={"France": "Paris"},
        faults=[Fault(status=429, retry_after=1.0)],
        latency=Latency.fixed(0.01),
    )
    with server:
        pid = server.pid
        assert pid is not None and pid != os.getpid()
        url = server.base_url + "/chat/completions"
        first = client.post(url, json=openai_body())
        assert first.status_code == 429
        assert first.headers["Retry-After"] == "1"
        assert client.post(url, json=openai_body()).json()["choices"][0]["message"]["content"] == (
            "Paris"
        )
        stats = server.stats()
        assert stats["by_status"] == {"200": 1, "429": 1}
        assert server.request_log()[0]["json"] == openai_body()
        server.set_faults([Fault(status=503, times=2)])
        assert server.faults()[0]["remaining"] == 2
        assert client.post(url, json=openai_body()).status_code == 503
        server.set_latency(0)
        server.reset()
        assert server.stats()["requests"] == 0
        assert server.faults() == []
        assert client.post(url, json=openai_body()).status_code == 200
    assert server.pid is None
    assert gone(pid)  # ended and reaped: no zombie left behind


def test_callable_answer_is_refused_with_the_alternative():
    with pytest.raises(MockServerError, match=r"answers=\{substring: reply\}"):
        MockModelServer(in_process=True, answer=lambda request: "x")


def test_child_that_cannot_listen_reports_why():
    with MockModelServer() as first, pytest.raises(MockServerError, match=r"could not start"):
        MockModelServer(in_process=True, port=first.port).start()
