"""pytest-crucible's settings: the table of options (`_table.py`), their registration with
pytest, their values from the command line, the environment and the ini file
(`_resolve.py`), the refusal of `--crucible-store PATH` written with a space
(`_space_form.py`) and the documentation table (`_docs.py`).

Imported by plugin.py in every pytest run of a project that has the plugin installed: it
imports nothing heavy at module level.
"""

from __future__ import annotations

import os
from typing import Literal

import pytest

from pytest_crucible.settings._space_form import space_form_problem
from pytest_crucible.settings._table import OPTIONS, BadValue, Kind, Option, option_named, truth

__all__ = [
    "OPTIONS",
    "Kind",
    "Option",
    "check_space_form",
    "experiment_mode",
    "header_lines",
    "register",
    "resolve",
]

_OUTSIDE_KEY = pytest.StashKey[list[str]]()


def register(parser: pytest.Parser) -> None:
    """Every option of the table on the command line and in the ini file."""
    group = parser.getgroup("crucible", "pytest-crucible: experiments as test suites")
    for option in OPTIONS:
        group.addoption(option.flag, **_argparse(option))
        ini_type, default = _ini_type(option)
        parser.addini(option.ini, _ini_help(option), type=ini_type, default=default)


def _argparse(option: Option) -> dict[str, object]:
    """argparse's arguments; every default is None, so that a value given on the command
    line can be told from one to take from the environment, the ini file or the default."""
    help_text = _help(option)
    if option.kind is Kind.FLAG:
        return {"action": "store_true", "default": None, "help": help_text}
    arguments: dict[str, object] = {"metavar": option.metavar, "default": None, "help": help_text}
    if option.kind is Kind.LIST:
        arguments["action"] = "append"
    elif option.kind is Kind.OPTIONAL:
        arguments.update(nargs="?", const="latest")
    return arguments


def _help(option: Option) -> str:
    parts = [option.help]
    if option.default not in (None, False, ()):
        parts.append(f"(default {option.default})")
    if option.kind is Kind.LIST:
        parts.append("(repeatable)")
    if option.takes_path or option.kind is Kind.OPTIONAL:
        parts.append("(write it with '=')")
    parts.append(f"[ini {option.ini}, env {option.env}]")
    return " ".join(parts)


def _ini_help(option: Option) -> str:
    return f"{option.flag}: {option.help} (env {option.env})"


def _ini_type(option: Option) -> tuple[Literal["bool", "linelist", "string"], object]:
    """The ini type and default (None: not set; `resolve` gives the option's default)."""
    if option.kind is Kind.FLAG:
        return "bool", None
    if option.kind is Kind.LIST:
        return "linelist", []
    return "string", None


def experiment_mode(config: pytest.Config) -> bool:
    """Whether experiments run (`--crucible`, CRUCIBLE=1 or `crucible = true` in the ini
    file), early: from pytest's first parse of the command line. A bad value counts as off
    here; `resolve` reports it."""
    if getattr(config.known_args_namespace, "crucible", None):
        return True
    env = os.environ.get("CRUCIBLE", "")
    try:
        if env.strip():
            return truth(env)
        return bool(config.getini("crucible"))
    except (BadValue, ValueError, pytest.UsageError):
        return False


def check_space_form(config: pytest.Config) -> None:
    """A usage error for `--crucible-store PATH` written with a space (_space_form.py)."""
    params = config.invocation_params
    problem = space_form_problem([str(a) for a in params.args], params.dir)
    if problem is not None:
        raise pytest.UsageError(problem)


def resolve(config: pytest.Config) -> bool:
    """Every option's value into `config.option` when experiments run; whether they run.
    Raises pytest.UsageError for a bad value, naming where it came from."""
    switch = option_named("crucible")
    if not _may_be_on(config):
        config.option.crucible = False
        return False
    from pytest_crucible.settings._resolve import resolve_options  # only when it may be on

    outside = resolve_options(config, [switch])  # first: the others count only when on
    if not config.option.crucible:
        return False
    others = [option for option in OPTIONS if option is not switch]
    config.stash[_OUTSIDE_KEY] = outside + resolve_options(config, others)
    return True


def _may_be_on(config: pytest.Config) -> bool:
    """Whether --crucible, CRUCIBLE or the ini key `crucible` is set at all (cheap: a run
    without experiments does no more)."""
    if config.option.crucible or os.environ.get("CRUCIBLE", "").strip():
        return True
    try:
        return config.getini("crucible") is not None
    except (ValueError, pytest.UsageError):
        return True  # resolve_options reports the bad value


def header_lines(config: pytest.Config) -> list[str]:
    """The settings this session took from the environment or the ini file, for pytest's
    header (so that a forgotten CRUCIBLE_* variable shows)."""
    outside = config.stash.get(_OUTSIDE_KEY, [])
    return [f"crucible: setting {label}" for label in outside]
