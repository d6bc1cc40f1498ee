"""An option and the values it takes: its `Kind`, the `Option` entry of the table
(settings/_table.py), the value rules every kind shares (on/off words, a reference that
names a file), and the checks of the options' values (an entry's `check`: the text as
written -> the value).

Pure: no pytest, nothing heavy (this module loads in every pytest run; the heavier checks,
shards and report formats, import their rule on use). A value an option does not take is a
`BadValue`, its message saying what to give (not where the value came from: the caller adds
that).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from enum import Enum
from typing import Any

__all__ = [
    "CACHE_MODES",
    "DISPLAY_MODES",
    "FALSE",
    "TRUE",
    "BadValue",
    "Check",
    "Kind",
    "Option",
    "cache_mode",
    "concurrency",
    "condition_names",
    "display_mode",
    "integer",
    "key_value_pair",
    "lease",
    "looks_like_path",
    "not_empty",
    "positive_integer",
    "report_formats",
    "shard",
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


def integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise BadValue("give an integer") from None


def positive_integer(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise BadValue("give an integer >= 1, e.g. 3")
    return value


def condition_names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise BadValue("give condition names separated by commas, e.g. terse,few_shot")
    return names


def concurrency(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if value < 1:
        raise BadValue(
            "give the number of trials in flight per process, an integer >= 1 "
            "(1 runs trials one at a time)"
        )
    return value


CACHE_MODES = ("off", "read", "write", "readwrite")
DISPLAY_MODES = ("auto", "rich", "plain", "none")


def _one_of(text: str, choices: tuple[str, ...], default_note: str) -> str:
    choice = text.strip().lower()
    if choice not in choices:
        raise BadValue(f"choose one of {', '.join(choices)} ({default_note})")
    return choice


def cache_mode(text: str) -> str:
    return _one_of(
        text, CACHE_MODES, "write, the default, records every call so the run can be replayed"
    )


def display_mode(text: str) -> str:
    return _one_of(text, DISPLAY_MODES, "auto, the default, suits most")


def shard(text: str) -> str:
    from pytest_crucible.declare.shards import parse_shard

    try:
        index, count = parse_shard(text)
    except ValueError as exc:
        raise BadValue(str(exc)) from None
    return f"{index}/{count}"


def report_formats(text: str) -> str:
    if text.strip().lower() == "none":
        return text
    from pytest_crucible.errors import CrucibleError
    from pytest_crucible.review.reports import parse_formats

    try:
        parse_formats(text)
    except CrucibleError as exc:
        raise BadValue(str(exc)) from None
    return text


def key_value_pair(example: str, number: bool = False) -> Check:
    """A check of KEY=VALUE (KEY=NUMBER when `number`)."""

    def check(text: str) -> str:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise BadValue(f"expected {example}")
        if number:
            try:
                float(value)
            except ValueError:
                raise BadValue(f"expected {example}") from None
        return text

    return check


def lease(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        value = 0.0
    if not value > 0:
        raise BadValue(
            "give the lease of a joined run's claims in seconds, a number > 0 (default 60)"
        )
    return value


def not_empty(text: str) -> str:
    if not text.strip():
        raise BadValue("give a value")
    return text.strip()
