"""The `mock_model_server` pytest fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_crucible.testing._mock import MockModelServer

__all__ = ["mock_model_server"]


@pytest.fixture
def mock_model_server() -> Iterator[MockModelServer]:
    """A running `MockModelServer()` with default settings, fresh for each test.

    Point a client at `mock_model_server.base_url` (OpenAI) or `mock_model_server.url`
    (Anthropic); change it with `set_faults(...)` / `set_latency(...)`; read `stats()`.
    """
    with MockModelServer() as server:
        yield server
