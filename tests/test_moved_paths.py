"""The import paths from before the layer folders keep working for one release, with a warning."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pytest_crucible.util.moved import MOVED, new_path


def _run(code: str) -> subprocess.CompletedProcess[str]:
    # a fresh interpreter: this process has imported the new paths already
    return subprocess.run(
        [sys.executable, "-W", "always::DeprecationWarning", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("pytest_crucible.experiment", "Experiment", "pytest_crucible.declare.experiment"),
        ("pytest_crucible.recovery", "ErrorHandling", "pytest_crucible.run.recovery"),
        ("pytest_crucible.gating", "gate_run", "pytest_crucible.review.gates.decide"),
        ("pytest_crucible.session.calls", "CallSetup", "pytest_crucible.session.call_setup"),
    ],
)
def test_an_old_path_warns_and_is_the_moved_module(old: str, name: str, new: str) -> None:
    result = _run(
        f"""
        import importlib, {old} as old
        new = importlib.import_module({new!r})
        assert old is new, (old, new)
        assert new.__spec__.name == {new!r}, new.__spec__
        from {old} import {name}
        print("OK", {name}.__module__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK pytest_crucible."), result.stdout
    assert f"DeprecationWarning: {old} moved to {new}" in result.stderr, result.stderr


def test_the_old_single_module_paths_of_two_new_packages_still_work() -> None:
    result = _run(
        """
        from pytest_crucible.store import Store
        from pytest_crucible.review import review_run
        print("OK", Store.__module__, review_run.__module__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "OK",
        "pytest_crucible.store.sqlite",
        "pytest_crucible.review.session_end",
    ]
    assert "pytest_crucible.review.review_run moved to" in result.stderr, result.stderr


def test_every_old_path_names_a_module_that_exists() -> None:
    import importlib.util

    for old, new in MOVED.items():
        assert importlib.util.find_spec(new) is not None, f"{old} -> {new}: no such module"
    assert new_path("pytest_crucible.recovery._policy") == "pytest_crucible.run.recovery._policy"
    assert new_path("pytest_crucible.declare.experiment") is None
