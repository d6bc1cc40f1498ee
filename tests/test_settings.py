"""The table of options (settings/_table.py): its documentation cannot go stale, every
`--crucible-*` option pytest knows is in it, and the space form of path options is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_crucible.settings import OPTIONS, Kind
from pytest_crucible.settings._docs import BEGIN, END, markdown_table
from pytest_crucible.settings._space_form import space_form_problem

DOCS = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_the_docs_table_matches_the_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert documented == markdown_table(), (
        "docs/settings.md is stale: run `python -m pytest_crucible.settings --write "
        "docs/settings.md`"
    )


def test_every_crucible_option_pytest_knows_is_in_the_table(pytester: pytest.Pytester) -> None:
    registered = _registered_flags(pytester.parseconfig())
    missing = sorted(registered - {option.flag for option in OPTIONS})
    assert not missing, (
        f"{missing} registered with group.addoption: make each an entry of OPTIONS in "
        "src/pytest_crucible/settings/_table.py (it then gets its ini key, environment "
        "variable and docs row)"
    )


def _registered_flags(config: pytest.Config) -> set[str]:
    """pytest's registered options (private API: no public listing exists)."""
    return {
        name
        for group in config._parser._groups
        for option in group.options
        for name in option.names()
        if name.startswith("--crucible")
    }


def test_names_follow_one_rule() -> None:
    for option in OPTIONS:
        assert option.name.startswith("crucible")
        assert option.ini == option.name.replace("-", "_")
        assert option.env == option.ini.upper()
    assert len({option.name for option in OPTIONS}) == len(OPTIONS)


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["--crucible-store", "x.db"], True),
        (["--crucible-store=x.db", "tests"], False),
        (["--crucible-output", "out", "-q"], True),
        (["--crucible-compare", "main"], False),  # a name: no path pytest would take
        (["--crucible-compare", "base/main.json"], True),
        (["--crucible-store"], False),  # no value: argparse says so
        (["--crucible-resume", "tests/"], False),  # not a path option (a run id)
    ],
)
def test_the_space_form_of_a_path_option_is_found(
    tmp_path: Path, args: list[str], refused: bool
) -> None:
    problem = space_form_problem(args, tmp_path)
    assert (problem is not None) == refused, problem
    if refused:
        assert f"{args[0]}={args[1]}" in str(problem)


def test_the_path_options_are_the_ones_the_docs_name() -> None:
    paths = {option.flag for option in OPTIONS if option.kind in (Kind.PATH, Kind.LOCATION)}
    assert paths == {"--crucible-store", "--crucible-output", "--crucible-gate-summary"}


def test_the_crucible_command_reads_the_plugins_store_variable() -> None:
    # the command keeps its own name for the variable: one with the plugin's option
    from pytest_crucible.cli._store import STORE_ENV
    from pytest_crucible.settings._table import option_named

    assert option_named("crucible_store").env == STORE_ENV
