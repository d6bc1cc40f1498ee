"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pandas  # noqa: F401 - imported once here: pytester's in-process runs must not re-import
import pytest
import scipy.stats  # noqa: F401 - C extensions that cannot be loaded twice in one process


@pytest.fixture
def calls_file(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file every condition call of the EXPERIMENT appends a line to."""
    path = pytester.path / "calls.log"
    monkeypatch.setenv("CRUCIBLE_CALLS", str(path))
    return path
