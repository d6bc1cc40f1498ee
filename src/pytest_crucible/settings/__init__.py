"""pytest-crucible's settings, pure (no pytest): the table of options (`_table.py`, on the
types and checks of `_option.py`), how each is written on pytest's command line and in the
ini file (below), their values from the command line, the environment and the ini file
(`resolution.py`, which the glue imports only when experiments may run), the refusal of
`--crucible-store PATH` written with a space (`_space_form.py`) and the documentation table
(`_docs.py`).

The pytest glue, session/options.py, registers the options and hands pytest's values in.
Imported in every pytest run of a project that has the plugin installed: it imports nothing
heavy at module level.
"""

from __future__ import annotations

from typing import Literal

from pytest_crucible.settings._option import BadValue, Kind, Option, truth
from pytest_crucible.settings._space_form import space_form_problem
from pytest_crucible.settings._table import OPTIONS, option_named

__all__ = [
    "OPTIONS",
    "BadValue",
    "Kind",
    "Option",
    "argparse_arguments",
    "ini_help",
    "ini_type",
    "option_named",
    "space_form_problem",
    "truth",
]


def argparse_arguments(option: Option) -> dict[str, object]:
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


def ini_help(option: Option) -> str:
    return f"{option.flag}: {option.help} (env {option.env})"


def ini_type(option: Option) -> tuple[Literal["bool", "linelist", "string"], object]:
    """The ini type and default (None: not set; resolving gives the option's default)."""
    if option.kind is Kind.FLAG:
        return "bool", None
    if option.kind is Kind.LIST:
        return "linelist", []
    return "string", None
