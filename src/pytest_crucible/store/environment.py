"""What a run records about where it ran: Python, platform, package versions, git state.

No environment variable is recorded (PGPASSWORD and API keys stay out) but CRUCIBLE_INSTANCE,
the name of the instance a run was started from (`crucible serve`, docs/steering.md), and the
command line is kept with every database URL's password masked.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_crucible.store.locations import masked_words

__all__ = ["capture_environment", "git_commit"]

_PACKAGES = (
    "pytest-crucible",
    "pytest",
    "pytest-xdist",
    "pluggy",
    "numpy",
    "scipy",
    "pandas",
    "statsmodels",
    "pydantic",
    "httpx",
)


def capture_environment(cwd: Path | None = None) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "executable": sys.executable,
        "argv": masked_words(sys.argv[1:]),
        "packages": _package_versions(),
        "git": _git_state(cwd or Path.cwd()),
        # set by `crucible serve` for the runs it starts (console/launcher.py)
        "instance": os.environ.get("CRUCIBLE_INSTANCE") or None,
        "launch": os.environ.get("CRUCIBLE_LAUNCH") or None,
    }


def git_commit(cwd: Path) -> str | None:
    """The commit checked out around `cwd`, or None outside a git repository."""
    commit: str | None = _git_state(cwd)["commit"]
    return commit


def _package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git_state(cwd: Path) -> dict[str, Any]:
    """Commit and dirty flag of the repository around `cwd`; empty when there is none."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": None if status is None else bool(status)}
