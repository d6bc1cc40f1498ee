"""The HumanEval example runs only when named (example_experiments/conftest.py), so `pytest
--crucible example_experiments` (scripts/example.sh, run by CI) stays quick:

    pytest --crucible example_experiments/humaneval

Its own `local_model`: HumanEval prompts are long, so each of the four slots gets 2048 tokens
of context (the capitals example's server gives 1024).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_crucible.llm import LocalServer, local_server


@pytest.fixture(scope="session")
def local_model() -> Iterator[LocalServer]:
    with local_server(parallel=4, ctx_size=8192) as server:
        yield server
