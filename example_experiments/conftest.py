"""A real language model for the example: llama.cpp serving SmolLM2-135M-Instruct on loopback.

The longer examples (humaneval/, strategies/) are collected only when the command line names
their folder or a file in it, so `pytest --crucible example_experiments` (scripts/example.sh,
run by CI) stays quick.

One server per process (each pytest-xdist worker starts its own), started before the first
trial and stopped when the session ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_crucible.llm import LocalServer, local_server


@pytest.fixture(scope="session")
def local_model() -> Iterator[LocalServer]:
    # four slots: the experiment keeps four trials in flight (concurrency=4), and llama.cpp
    # decodes them as one batch
    with local_server(parallel=4, ctx_size=4096) as server:
        yield server


HERE = Path(__file__).resolve().parent
OPT_IN = (HERE / "humaneval", HERE / "strategies")


def _named(config: pytest.Config, folder: Path) -> bool:
    """Whether the command line names `folder` or something inside it."""
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        if path == folder or folder in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    for folder in OPT_IN:
        if collection_path.parent == folder and collection_path.name != "conftest.py":
            return None if _named(config, folder) else True
    return None
