"""The HumanEval example runs only when named, so `pytest --crucible example_experiments`
(scripts/example.sh, run by CI) stays quick:

    pytest --crucible example_experiments/humaneval

Its own `local_model`: HumanEval prompts are long, so each of the four slots gets 2048 tokens
of context (the capitals example's server gives 1024).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_crucible.llm import LocalServer, local_server

HERE = Path(__file__).resolve().parent


def _named(config: pytest.Config) -> bool:
    """Whether the command line names this folder or something inside it."""
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.parent == HERE and collection_path.name != "conftest.py":
        return None if _named(config) else True
    return None


@pytest.fixture(scope="session")
def local_model() -> Iterator[LocalServer]:
    with local_server(parallel=4, ctx_size=8192) as server:
        yield server
