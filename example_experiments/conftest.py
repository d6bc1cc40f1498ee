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
    # four slots: the experiment keeps four trials in flight (concurrency=4), and llama.cpp
    # decodes them as one batch
    with local_server(parallel=4, ctx_size=4096) as server:
        yield server
