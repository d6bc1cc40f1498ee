"""Each option's value for this session: command line > environment variable > ini > default.

The values are checked here, each error naming where the bad value came from (a
`BadSetting`), and returned by option `dest`; the pytest glue (session/options.py) writes
them back into `config.option`, so the session reads every setting with `config.getoption`
whatever its source. Relative paths become absolute: against pytest's rootdir (command line,
environment, default), or against the ini file's folder (as pytest does for its `paths` ini
values), never against the current directory.

Repeatable options (Kind.LIST) add up: the ini file's lines, then the environment
variable's lines, then the command line's values.

Pure: what pytest was given comes in as plain values (`Given`), never a pytest object.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_crucible.errors import ConfigError
from pytest_crucible.settings._option import (
    FALSE,
    TRUE,
    BadValue,
    Kind,
    Option,
    looks_like_path,
    truth,
)
from pytest_crucible.settings._table import OPTIONS
from pytest_crucible.store.locations import is_database_url, masked_in

__all__ = ["BadSetting", "Given", "Origin", "resolve_options"]


class BadSetting(ConfigError):
    """A bad value of an option, the message naming where it came from ("NAME=VALUE: what
    to give"); pytest shows it as a usage error."""


@dataclass(frozen=True)
class Given:
    """What pytest was given for this session, as plain values."""

    rootpath: Path
    inipath: Path | None
    command_line: Callable[[str], Any]  # an option's dest -> its command-line value or None
    ini: Callable[[str], object]  # an ini key -> its value; ValueError for one pytest refuses


@dataclass(frozen=True)
class Origin:
    """Where a value came from: how messages name it ("NAME=VALUE"), and the folder a
    relative path in it is relative to."""

    name: str
    base: Path
    sep: str = "="
    command_line: bool = False

    def label(self, text: str) -> str:
        """For messages and pytest's header: a database URL's password is masked."""
        return f"{self.name}{self.sep}{masked_in(text)}"


def resolve_options(
    given: Given, options: Iterable[Option] = OPTIONS
) -> tuple[dict[str, Any], list[str]]:
    """Each option's value by its `dest`, and the settings taken from outside the command
    line ("NAME=VALUE"). Raises BadSetting for a bad value, naming where it came from."""
    values: dict[str, Any] = {}
    outside: list[str] = []
    for option in options:
        values[option.dest], labels = _value(given, option)
        outside += labels
    return values, outside


def _value(given: Given, option: Option) -> tuple[Any, list[str]]:
    if option.kind is Kind.LIST:
        return _list_value(given, option)
    written = given.command_line(option.dest)
    if written is not None and str(written).strip():  # an empty value counts as not given
        return _parsed(option, str(written), _command_line(given, option)), []
    for text, origin in (_env(given, option), _ini(given, option)):
        if text is not None:
            return _parsed(option, text, origin), [origin.label(text)]
    return _default(given, option), []


def _command_line(given: Given, option: Option) -> Origin:
    return Origin(option.flag, given.rootpath, command_line=True)


def _env(given: Given, option: Option) -> tuple[str | None, Origin]:
    text = os.environ.get(option.env, "")
    origin = Origin(f"environment variable {option.env}", given.rootpath)
    return (text if text.strip() else None), origin


def _ini(given: Given, option: Option) -> tuple[str | None, Origin]:
    """The option's ini value as text (lines joined), None when the ini file does not set
    it; its origin names the ini file and key."""
    inipath = given.inipath
    where = f"{inipath}: {option.ini}" if inipath is not None else f"-o {option.ini}"
    origin = Origin(where, inipath.parent if inipath else given.rootpath, sep=" = ")
    try:
        raw = given.ini(option.ini)
    except ValueError as exc:  # pytest's own check of an ini bool
        said = str(exc).removeprefix(f"{inipath}: ")
        raise BadSetting(f"{where}: {said}; give true or false") from None
    if isinstance(raw, list):
        return ("\n".join(raw) if raw else None), origin
    return (None if raw is None or raw == "" else str(raw)), origin


def _parsed(option: Option, text: str, origin: Origin) -> Any:
    """One value of `option` read from `origin`, checked; a usage error names the origin."""
    try:
        return _convert(option, text, origin)
    except BadValue as exc:
        raise BadSetting(f"{origin.label(text)}: {exc}") from None


def _convert(option: Option, text: str, origin: Origin) -> Any:
    kind = option.kind
    if kind is Kind.FLAG:
        return truth(text)
    if kind is Kind.OPTIONAL:
        return text if origin.command_line else _optional(text)
    value = option.check(text) if option.check is not None else text
    if kind is Kind.LOCATION and is_database_url(text.strip()):
        return text.strip()  # a URL: never a path, never against the rootdir
    if kind in (Kind.PATH, Kind.LOCATION) or (kind is Kind.REFERENCE and looks_like_path(text)):
        return str(_absolute(origin.base, text))
    return value


def _optional(text: str) -> str | None:
    """`--crucible-resume` and the like: a run id or `latest`; true means latest and false
    means not at all (for ini files and environment variables)."""
    word = text.strip()
    if word.lower() in TRUE:
        return "latest"
    if word.lower() in FALSE:
        return None
    return word


def _absolute(base: Path, text: str) -> Path:
    path = Path(os.path.expanduser(text.strip()))
    return path if path.is_absolute() else base / path


def _default(given: Given, option: Option) -> Any:
    if option.kind in (Kind.PATH, Kind.LOCATION) and option.default is not None:
        return str(given.rootpath / option.default)
    return option.default


def _list_value(given: Given, option: Option) -> tuple[list[str], list[str]]:
    """The ini file's lines, then the environment variable's, then the command line's."""
    values: list[str] = []
    labels: list[str] = []
    for text, origin in (_ini(given, option), _env(given, option)):
        for line in _lines(text or ""):
            values.append(_parsed(option, line, origin))
            labels.append(origin.label(line))
    command_line = _command_line(given, option)
    for text in given.command_line(option.dest) or []:
        values.append(_parsed(option, text, command_line))
    return values, labels


def _lines(text: str) -> list[str]:
    return [stripped for line in text.splitlines() if (stripped := line.strip())]
