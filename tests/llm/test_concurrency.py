"""Many calls in flight at once on one backend (asyncio, no pytest-asyncio)."""

from __future__ import annotations

import asyncio

import pytest

from pytest_crucible.llm import ModelResponse, OpenAICompatibleBackend
from pytest_crucible.llm._http import AsyncTransport
from pytest_crucible.testing import MockModelServer

from .conftest import FAST

CALLS = 128


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_128_concurrent_calls(server: MockModelServer, transport: AsyncTransport) -> None:
    server.set_latency(0.2)
    backend = OpenAICompatibleBackend(server.base_url, retry=FAST, async_transport=transport)

    async def run() -> list[ModelResponse]:
        async with backend:
            calls = [backend.achat("mock-model", f"question {i}") for i in range(CALLS)]
            return await asyncio.gather(*calls)

    responses = asyncio.run(run())
    assert [r.content.split(" [")[0] for r in responses] == [
        f"Mock answer to: question {i}" for i in range(CALLS)
    ]
    assert all(r.attempts == 1 and r.latency_s >= 0.2 for r in responses)
    stats = server.stats()
    assert stats["requests"] == CALLS
    # Evidence of concurrency that does not depend on the machine's speed: calls overlapped.
    assert stats["max_in_flight"] >= 16


def test_sync_calls_from_threads_share_one_pool(server: MockModelServer) -> None:
    server.set_latency(0.05)
    with OpenAICompatibleBackend(server.base_url, retry=FAST) as backend:

        async def run() -> list[ModelResponse]:
            calls = [asyncio.to_thread(backend.chat, "mock-model", f"q{i}") for i in range(16)]
            return await asyncio.gather(*calls)

        responses = asyncio.run(run())
    assert len({r.content for r in responses}) == 16
    assert server.stats()["max_in_flight"] > 1
