"""pytest's side of the settings: the options of settings/_table.py registered on pytest's
parser, and their values read from pytest's config for settings/resolution.py (command line >
environment > ini file > default), written back into `config.option`.

The only place the settings meet pytest: settings/ stays pure (an import contract). Loaded
in every pytest run (plugin.py), so it imports nothing heavy at module level.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import pytest

from pytest_crucible import settings

__all__ = ["check_space_form", "experiment_mode", "header_lines", "register", "resolve"]

_OUTSIDE_KEY = pytest.StashKey[list[str]]()


def register(parser: pytest.Parser) -> None:
    """Every option of the table on the command line and in the ini file."""
    group = parser.getgroup("crucible", "pytest-crucible: experiments as test suites")
    for option in settings.OPTIONS:
        group.addoption(option.flag, **settings.argparse_arguments(option))
        ini_type, default = settings.ini_type(option)
        parser.addini(option.ini, settings.ini_help(option), type=ini_type, default=default)


def experiment_mode(config: pytest.Config) -> bool:
    """Whether experiments run (`--crucible`, CRUCIBLE=1 or `crucible = true` in the ini
    file), early: from pytest's first parse of the command line. A bad value counts as off
    here; `resolve` reports it."""
    if getattr(config.known_args_namespace, "crucible", None):
        return True
    env = os.environ.get("CRUCIBLE", "")
    try:
        if env.strip():
            return settings.truth(env)
        return bool(config.getini("crucible"))
    except (settings.BadValue, ValueError, pytest.UsageError):
        return False


def check_space_form(config: pytest.Config) -> None:
    """A usage error for `--crucible-store PATH` written with a space (settings/_space_form.py)."""
    params = config.invocation_params
    problem = settings.space_form_problem([str(a) for a in params.args], params.dir)
    if problem is not None:
        raise pytest.UsageError(problem)


def resolve(config: pytest.Config) -> bool:
    """Every option's value into `config.option` when experiments run; whether they run.
    Raises pytest.UsageError for a bad value, naming where it came from."""
    switch = settings.option_named("crucible")
    if not _may_be_on(config):
        config.option.crucible = False
        return False
    outside = _resolve_into(config, [switch])  # first: the others count only when on
    if not config.option.crucible:
        return False
    others = [option for option in settings.OPTIONS if option is not switch]
    config.stash[_OUTSIDE_KEY] = outside + _resolve_into(config, others)
    return True


def _may_be_on(config: pytest.Config) -> bool:
    """Whether --crucible, CRUCIBLE or the ini key `crucible` is set at all (cheap: a run
    without experiments does no more)."""
    if config.option.crucible or os.environ.get("CRUCIBLE", "").strip():
        return True
    try:
        return config.getini("crucible") is not None
    except (ValueError, pytest.UsageError):
        return True  # resolving reports the bad value


def _resolve_into(config: pytest.Config, options: Iterable[settings.Option]) -> list[str]:
    """The options' values written into `config.option`; the settings taken from outside
    the command line ("NAME=VALUE")."""
    # only when experiments may run: it loads the store's URL rules
    from pytest_crucible.settings.resolution import BadSetting, Given, resolve_options

    def ini(key: str) -> object:
        try:
            return config.getini(key)
        except pytest.UsageError as exc:  # pytest's own check of an ini bool
            raise ValueError(str(exc)) from None

    def command_line(dest: str) -> Any:
        return getattr(config.option, dest, None)

    given = Given(config.rootpath, config.inipath, command_line, ini)
    try:
        values, outside = resolve_options(given, options)
    except BadSetting as exc:
        raise pytest.UsageError(str(exc)) from None
    for dest, value in values.items():
        setattr(config.option, dest, value)
    return outside


def header_lines(config: pytest.Config) -> list[str]:
    """The settings this session took from the environment or the ini file, for pytest's
    header (so that a forgotten CRUCIBLE_* variable shows)."""
    outside = config.stash.get(_OUTSIDE_KEY, [])
    return [f"crucible: setting {label}" for label in outside]
