"""The ensembles example runs only when named, so `pytest --crucible example_experiments`
(scripts/example.sh, run by CI) stays quick:

    pytest --crucible example_experiments/strategies

It answers from the mock model server (`ensemble_server.py`), started when the experiment
module is imported and stopped here when the session ends.
"""

from __future__ import annotations

from pathlib import Path

import pytest

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


def pytest_unconfigure(config: pytest.Config) -> None:
    import sys

    server = sys.modules.get("ensemble_server")
    if server is not None:
        server.stop()
