"""A real language model for the example: llama.cpp serving SmolLM2-135M-Instruct on loopback.

One server per process (each pytest-xdist worker starts its own), started before the first
trial and stopped when the session ends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_crucible.llm import LocalServer, local_server


@pytest.fixture(scope="session")
def local_model() -> Iterator[LocalServer]:
    with local_server() as server:
        yield server
