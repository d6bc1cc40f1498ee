"""An option's types: its `Kind`, the `Option` entry of the table (settings/_table.py), and
the plain value rules every kind shares (on/off words, a reference that names a file).

Pure: no pytest, nothing heavy (this module loads in every pytest run). A value an option
does not take is a `BadValue`, its message saying what to give.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum
from typing import Any

__all__ = [
    "FALSE",
    "TRUE",
    "BadValue",
    "Check",
    "Kind",
    "Option",
    "looks_like_path",
    "truth",
]


class BadValue(ValueError):
    """A value an option does not take; the message says what it takes (not where the value
    came from: the caller adds that)."""


class Kind(Enum):
    """How an option is written and how its values combine."""

    FLAG = "flag"  # --x alone; ini/env: true or false
    TEXT = "text"  # --x=VALUE
    PATH = "path"  # --x=PATH, relative to the rootdir (ini: to the ini file's folder)
    REFERENCE = "reference"  # a name, a run id or a path (a path resolves like PATH)
    LOCATION = "location"  # a path (resolves like PATH) or a database URL (kept as written)
    OPTIONAL = "optional"  # --x alone means `latest`; --x=VALUE
    LIST = "list"  # repeatable; ini: one per line; env: one per line


Check = Callable[[str], Any]


class Option:
    """One option. A plain class, not a dataclass: this module loads in every pytest run,
    and a frozen dataclass costs a millisecond to define."""

    __slots__ = ("check", "default", "help", "kind", "metavar", "name")

    def __init__(
        self,
        name: str,  # without the leading dashes: "crucible-store"
        kind: Kind,
        help: str,
        *,
        default: Any = None,
        metavar: str | None = None,
        check: Check | None = None,  # text -> value; raises BadValue
    ) -> None:
        self.name = name
        self.kind = kind
        self.help = help
        self.default = default
        self.metavar = metavar
        self.check = check

    def __repr__(self) -> str:
        return f"Option({self.flag})"

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def dest(self) -> str:
        """The attribute of `config.option`, and the ini key."""
        return self.name.replace("-", "_")

    @property
    def ini(self) -> str:
        return self.dest

    @property
    def env(self) -> str:
        return self.dest.upper()

    @property
    def takes_path(self) -> bool:
        return self.kind in (Kind.PATH, Kind.REFERENCE, Kind.LOCATION)


TRUE = ("1", "true", "yes", "y", "on", "t")
FALSE = ("0", "false", "no", "n", "off", "f")


def truth(text: str) -> bool:
    """An on/off value from an ini file or an environment variable."""
    word = text.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise BadValue("give true or false (1/0, yes/no, on/off)")


def looks_like_path(text: str) -> bool:
    """Whether a --crucible-compare reference is a baseline file rather than a name or a run
    id (the rule of review/gates: a .json name or a path separator)."""
    return text.endswith(".json") or "/" in text or os.sep in text
