"""`crucible --version`: pytest-crucible's version and where it is installed, the Python
that runs it and the pytest (and pytest-xdist) it would run with, as a bug report needs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["VersionAction", "version_text"]


class VersionAction(argparse.Action):
    """Prints `version_text()` and exits, like argparse's "version" action, but computes
    the text only when asked (the package metadata is read then, not at every start)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(version_text())
        parser.exit()


def version_text() -> str:
    import platform

    package = Path(__file__).resolve().parent.parent
    return "\n".join(
        [
            f"pytest-crucible {_version('pytest-crucible')} ({package})",
            f"Python {platform.python_version()} ({sys.executable})",
            f"pytest {_version('pytest')}",
            f"pytest-xdist {_version('pytest-xdist')}",
        ]
    )


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
