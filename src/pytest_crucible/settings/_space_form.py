"""`--crucible-store PATH` written with a space: refused before it moves pytest's rootdir.

pytest chooses the rootdir before plugins register their options, from every argument that
names an existing path: the value of `--crucible-store /elsewhere/x.db` counts as a test
path then, and the rootdir (node ids, JUnit class names, where baselines go, where relative
paths resolve) moves to a common ancestor. Written `--crucible-store=PATH` it is one
argument that names no path. There is no reliable repair once the rootdir is chosen, so the
space form of an option that takes a path is a usage error, from the first run on (a store
that does not exist yet does not move the rootdir, the next run's would).
"""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from pytest_crucible.settings._option import Kind, looks_like_path
from pytest_crucible.settings._table import OPTIONS

__all__ = ["space_form_problem"]

_PATH_FLAGS = {option.flag: option for option in OPTIONS if option.takes_path}


def space_form_problem(args: Sequence[str], invocation_dir: Path) -> str | None:
    """A usage error's message for the first path option written with a space among the
    command line's arguments and PYTEST_ADDOPTS, or None."""
    words = [*_addopts(), *args]
    for flag, value in itertools.pairwise(words):
        option = _PATH_FLAGS.get(flag)
        if option is None or value.startswith("-"):
            continue
        if option.kind is Kind.REFERENCE and not _names_a_path(value, invocation_dir):
            continue  # a baseline name or run id does not move the rootdir
        shown = masked_in(value)  # a database URL's password is never shown
        return (
            f"{flag} {shown}: write {flag}={shown} (with '=', no space). Written with a "
            "space, pytest takes the path for a test path when it chooses the rootdir, "
            "which moves the rootdir (node ids, JUnit class names, where baselines and "
            "relative paths go) once the path exists."
        )
    return None


def masked_in(text: str) -> str:
    # imported here: this module loads in every pytest run, the store package only when needed
    from pytest_crucible.store.locations import masked_in as mask

    return mask(text)


def _addopts() -> list[str]:
    try:
        return shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    except ValueError:  # pytest reports a malformed PYTEST_ADDOPTS itself
        return []


def _names_a_path(value: str, invocation_dir: Path) -> bool:
    return looks_like_path(value) or (invocation_dir / value).exists()
