"""Each option's value for this session: command line > environment variable > ini > default.

The values are checked here, each error naming where the bad value came from, and written
back into `config.option`, so the session reads every setting with `config.getoption`
whatever its source. Relative paths become absolute: against pytest's rootdir (command line,
environment, default), or against the ini file's folder (as pytest does for its `paths` ini
values), never against the current directory.

Repeatable options (Kind.LIST) add up: the ini file's lines, then the environment
variable's lines, then the command line's values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_crucible.settings._table import (
    FALSE,
    OPTIONS,
    TRUE,
    BadValue,
    Kind,
    Option,
    looks_like_path,
    truth,
)
from pytest_crucible.store.locations import is_database_url, masked_in

__all__ = ["Origin", "resolve_options"]


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


def resolve_options(config: pytest.Config, options: Iterable[Option] = OPTIONS) -> list[str]:
    """Write each option's value into `config.option`; return the settings taken from
    outside the command line ("NAME=VALUE"). Raises pytest.UsageError for a bad value,
    naming where it came from."""
    outside: list[str] = []
    for option in options:
        value, labels = _value(config, option)
        setattr(config.option, option.dest, value)
        outside += labels
    return outside


def _value(config: pytest.Config, option: Option) -> tuple[Any, list[str]]:
    if option.kind is Kind.LIST:
        return _list_value(config, option)
    given = getattr(config.option, option.dest, None)
    if given is not None and str(given).strip():  # an empty value counts as not given
        return _parsed(option, str(given), _command_line(config, option)), []
    for text, origin in (_env(config, option), _ini(config, option)):
        if text is not None:
            return _parsed(option, text, origin), [origin.label(text)]
    return _default(config, option), []


def _command_line(config: pytest.Config, option: Option) -> Origin:
    return Origin(option.flag, config.rootpath, command_line=True)


def _env(config: pytest.Config, option: Option) -> tuple[str | None, Origin]:
    text = os.environ.get(option.env, "")
    origin = Origin(f"environment variable {option.env}", config.rootpath)
    return (text if text.strip() else None), origin


def _ini(config: pytest.Config, option: Option) -> tuple[str | None, Origin]:
    """The option's ini value as text (lines joined), None when the ini file does not set
    it; its origin names the ini file and key."""
    inipath = config.inipath
    where = f"{inipath}: {option.ini}" if inipath is not None else f"-o {option.ini}"
    origin = Origin(where, inipath.parent if inipath else config.rootpath, sep=" = ")
    try:
        raw = config.getini(option.ini)
    except (ValueError, pytest.UsageError) as exc:  # pytest's own check of an ini bool
        said = str(exc).removeprefix(f"{inipath}: ")
        raise pytest.UsageError(f"{where}: {said}; give true or false") from None
    if isinstance(raw, list):
        return ("\n".join(raw) if raw else None), origin
    return (None if raw is None or raw == "" else str(raw)), origin


def _parsed(option: Option, text: str, origin: Origin) -> Any:
    """One value of `option` read from `origin`, checked; a usage error names the origin."""
    try:
        return _convert(option, text, origin)
    except BadValue as exc:
        raise pytest.UsageError(f"{origin.label(text)}: {exc}") from None


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


def _default(config: pytest.Config, option: Option) -> Any:
    if option.kind in (Kind.PATH, Kind.LOCATION) and option.default is not None:
        return str(config.rootpath / option.default)
    return option.default


def _list_value(config: pytest.Config, option: Option) -> tuple[list[str], list[str]]:
    """The ini file's lines, then the environment variable's, then the command line's."""
    values: list[str] = []
    labels: list[str] = []
    for text, origin in (_ini(config, option), _env(config, option)):
        for line in _lines(text or ""):
            values.append(_parsed(option, line, origin))
            labels.append(origin.label(line))
    command_line = _command_line(config, option)
    for text in getattr(config.option, option.dest, None) or []:
        values.append(_parsed(option, text, command_line))
    return values, labels


def _lines(text: str) -> list[str]:
    return [stripped for line in text.splitlines() if (stripped := line.strip())]
