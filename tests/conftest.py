"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

import pandas  # noqa: F401 - imported once here: pytester's in-process runs must not re-import
import pytest
import scipy.stats  # noqa: F401 - C extensions that cannot be loaded twice in one process
from hypothesis import settings

from e2e_support import SLOW_E2E

# No property test is timed: Hypothesis's default 200 ms deadline per example failed on a
# busy machine (load 10) with nothing wrong. Examples stay bounded by max_examples.
settings.register_profile("crucible", deadline=None)
settings.load_profile("crucible")


@pytest.fixture
def calls_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file every condition call of the EXPERIMENT appends a line to."""
    path = pytester.path / "calls.log"
    monkeypatch.setenv("CRUCIBLE_CALLS", str(path))
    return path


THIRD_PARTY_PLUGINS = Path(__file__).resolve().parent.parent / ".venv" / "third-party-plugins"


@pytest.fixture
def third_party_plugins(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Puts other people's pytest plugins (scripts/third-party-plugins.txt: pytest-sugar,
    pytest-rich, pytest-rerunfailures, pytest-asyncio, pytest-timeout) on PYTHONPATH, so that
    the pytest runs a test starts in a subprocess load them as a user's would."""
    if not (THIRD_PARTY_PLUGINS / ".installed").exists():
        pytest.fail(f"{THIRD_PARTY_PLUGINS} is missing: run `bash scripts/_venv.sh` first")
    path = os.pathsep.join(p for p in (str(THIRD_PARTY_PLUGINS), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    return THIRD_PARTY_PLUGINS


@pytest.hookimpl(tryfirst=True)  # before -m deselects: marks e2e_support.SLOW_E2E slow
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("[", 1)[0] in SLOW_E2E:
            item.add_marker(pytest.mark.slow)
