"""A store location above the store layer (issue 17, the wiring): a database URL in a command
line, a message or a side-file name shows no password; a SQLite store keeps its side files
where they always were."""

from __future__ import annotations

from pathlib import Path

from pytest_crucible.settings.resolution import Origin
from pytest_crucible.store.journal import journal_folder
from pytest_crucible.store.locations import (
    masked,
    masked_in,
    masked_words,
    may_exist,
    quoted,
    side_name,
    without_password,
)
from pytest_crucible.store.sqlite import Store

URL = "postgresql://lab:hunter2@db.example:5432/results"
SHOWN = "postgresql://lab:***@db.example:5432/results"


def test_command_line_words_keep_their_shape_with_every_password_masked() -> None:
    argv = [
        f"--crucible-store={URL}",
        "--crucible-store",
        URL,
        "-o",
        "crucible_store=postgres://u:p w'q@h/db",  # a blank and a quote in the password
        "tests/",
        "--crucible-set=model=gpt",
    ]
    assert masked_words(argv) == [
        f"--crucible-store={SHOWN}",
        "--crucible-store",
        SHOWN,
        "-o",
        "crucible_store=postgres://u:***@h/db",
        "tests/",
        "--crucible-set=model=gpt",
    ]


def test_a_url_inside_a_message_is_masked() -> None:
    assert masked_in(f"could not reach {URL} (twice)") == f"could not reach {SHOWN} (twice)"
    assert masked_in("store /data/crucible.db") == "store /data/crucible.db"


def test_settings_labels_in_the_header_and_errors_mask_the_url(tmp_path: Path) -> None:
    origin = Origin("environment variable CRUCIBLE_STORE", tmp_path)
    assert origin.label(URL) == f"environment variable CRUCIBLE_STORE={SHOWN}"


def test_a_notebook_gets_the_url_without_its_password_and_a_shell_gets_one_word() -> None:
    assert without_password(URL + "?password=x&sslmode=require") == (
        "postgresql://lab@db.example:5432/results?sslmode=require"
    )
    assert quoted(URL) == f"'{SHOWN}'"
    assert quoted("/data/crucible.db") == "/data/crucible.db"


def test_side_files_of_a_database_are_named_by_host_port_and_database_only() -> None:
    assert side_name(URL) == "postgresql-db.example-5432-results"
    assert side_name("/data/crucible.db") == "crucible.db"
    assert may_exist(URL) and not may_exist("/no/such/crucible.db")


def test_a_sqlite_store_keeps_its_journals_beside_its_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "crucible.db")
    try:
        assert journal_folder(store) == tmp_path / "crucible.db.journals"
        assert store.side_folder == tmp_path and store.location == str(tmp_path / "crucible.db")
    finally:
        store.close()


def test_a_password_with_unencoded_url_characters_is_masked_whole() -> None:
    # urllib reads "/", "?" or "#" as the end of the authority: the password's tail leaked
    for secret in ("pa/ss", "p?w#x", "a@b", "tail/with?all#of@them"):
        shown = masked(f"postgresql://lab:{secret}@db.example:5432/results")
        assert shown == SHOWN, secret
    assert masked("postgresql:///db?host=/tmp&password=x") == (
        "postgresql:///db?host=/tmp&password=***"
    )
    assert masked("postgresql://lab@db.example/results") == "postgresql://lab@db.example/results"
