"""Fixtures of the mock model server's tests: the public fixture, and a plain httpx client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pytest_crucible.testing import mock_model_server

__all__ = ["client", "mock_model_server"]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A sync client that ignores proxy variables (the server is on loopback)."""
    with httpx.Client(trust_env=False, timeout=10.0) as http:
        yield http
