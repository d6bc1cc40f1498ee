"""Starting and stopping, use from async code, concurrency, and the pytest fixture."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import Any

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from pytest_crucible.testing import MockModelServer, MockServerError

from .helpers import openai_body


def open_fds() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds through /proc")
def test_start_and_stop_are_fast_and_leak_nothing():
    threads, fds = set(threading.enumerate()), open_fds()
    for _ in range(5):
        started = time.perf_counter()
        server = MockModelServer().start()
        start_time = time.perf_counter() - started
        with httpx.Client(trust_env=False) as client:  # leaves a keep-alive connection open
            assert client.get(server.url + "/health").status_code == 200
            stopping = time.perf_counter()
            server.stop()
            stop_time = time.perf_counter() - stopping
        # milliseconds when quiet; generous for a loaded machine, still no multi-second waits
        assert start_time < 2.0
        assert stop_time < 2.0
        assert not server.running
    assert set(threading.enumerate()) == threads
    assert open_fds() == fds


def test_works_inside_a_running_event_loop():
    async def main() -> list[int]:
        statuses = []
        with MockModelServer() as server:  # sync use from a coroutine
            async with httpx.AsyncClient(trust_env=False) as client:
                url = server.base_url + "/chat/completions"
                statuses.append((await client.post(url, json=openai_body())).status_code)
        async with MockModelServer() as server, httpx.AsyncClient(trust_env=False) as client:
            url = server.base_url + "/chat/completions"
            statuses.append((await client.post(url, json=openai_body())).status_code)
        return statuses

    assert asyncio.run(main()) == [200, 200]


async def _many(base_url: str, n: int) -> tuple[float, list[httpx.Response]]:
    transport = AiohttpTransport(limits=httpx.Limits(max_connections=2 * n))
    async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
        started = time.perf_counter()
        calls = (client.post("/chat/completions", json=openai_body(f"q{i}")) for i in range(n))
        responses = await asyncio.gather(*calls)
        return time.perf_counter() - started, list(responses)


def test_128_concurrent_requests_with_200ms_latency():
    with MockModelServer(latency=0.2) as server:
        elapsed, responses = asyncio.run(_many(server.base_url, 128))
        stats = server.stats()
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["choices"][0]["message"]["content"] for r in responses}) == 128
    # one at a time would take 25.6 s (the bound holds on any machine); the concurrency
    # itself is max_in_flight's to show
    assert elapsed < 25.6, f"128 calls at 0.2 s latency took {elapsed:.2f} s"
    assert stats["max_in_flight"] >= 100
    assert stats["requests"] == 128
    assert stats["in_flight"] == 0


def test_fixture_gives_a_fresh_running_server(mock_model_server: MockModelServer):
    assert mock_model_server.running
    assert mock_model_server.base_url == mock_model_server.url + "/v1"
    assert mock_model_server.url.startswith("http://127.0.0.1:")
    assert mock_model_server.stats()["requests"] == 0
    assert mock_model_server.faults() == []
    assert mock_model_server.pid is None


def test_busy_port_says_to_use_port_zero():
    with MockModelServer() as first, pytest.raises(MockServerError, match="port=0"):
        MockModelServer(port=first.port).start()


def test_start_twice_and_url_before_start():
    server = MockModelServer()
    with pytest.raises(MockServerError, match="not running"):
        _ = server.url
    with server, pytest.raises(MockServerError, match="already running"):
        server.start()
    server.stop()  # a no-op once stopped


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"answer": "Paris"}, "not callable"),
        ({"answers": {"France": 3}}, "a reply is a string"),
        ({"answers": {"France": {"text": "x"}}}, "'content' and/or 'tool_calls'"),
        ({"faults": ["429"]}, "Fault"),
        ({"models": "gpt"}, "list of model names"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs: dict[str, Any], words: str):
    with pytest.raises(MockServerError, match=words):
        MockModelServer(**kwargs)
