"""The PostgreSQL store on a real server (tests/postgres_server.py): what only it has (JSONB
columns, its schema version and migrations, several writers at once, a dropped connection)
and every way opening it can fail, each a StoreError that names the fix and never shows the
password. The operations themselves are checked for both backends in
tests/test_store_interface.py."""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from postgres_server import ROLE, ROLE_PASSWORD, PostgresServer
from pytest_crucible.errors import StoreError
from pytest_crucible.store import open_store
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.run_records import RunHolder
from test_store import HEADER


def _record(item: str, repeat: int = 0, **changes: Any) -> TrialRecord:
    fields: dict[str, Any] = {
        "experiment": "caps",
        "key": f"a-{item}-{repeat}",
        "condition": "a",
        "item_id": item,
        "repeat": repeat,
        "status": "passed",
        "item": {"input": item},
        "metrics": {"correct": item.endswith("0"), "score": 0.5},
        "logs": [{"level": "info", "message": "hello", "at": 0.0}],
        "started_at": 0.0,
        "ended_at": 1.0,
    }
    return TrialRecord(**(fields | changes))


@pytest.fixture
def store(postgres_url: str, tmp_path: Path) -> Iterator[ResultStore]:
    with closing(open_store(postgres_url, side_folder=tmp_path)) as opened:
        yield opened


def _refused(url: str, **options: Any) -> str:
    """The message of the StoreError that opening `url` raises (the password not in it)."""
    with pytest.raises(StoreError) as raised:
        open_store(url, **options)
    message = str(raised.value)
    assert ROLE_PASSWORD not in message
    return message


# -- what only PostgreSQL has ---------------------------------------------------------------


def test_a_database_store_is_located_by_its_masked_url_and_a_local_side_folder(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with closing(open_store(postgres_url, side_folder=tmp_path / "side")) as opened:
        assert opened.location == postgres_url.replace(ROLE_PASSWORD, "***")
        assert opened.side_folder == tmp_path / "side"
    monkeypatch.chdir(tmp_path)
    with closing(open_store(postgres_url)) as opened:
        assert opened.side_folder == tmp_path / ".crucible"  # the default, absolute


def test_json_columns_are_jsonb_that_sql_can_query(store: ResultStore, postgres_url: str) -> None:
    run_id = store.create_run(HEADER, {})
    store.record_trials([(run_id, _record(f"i{n}"), "main") for n in range(12)])
    with psycopg.connect(postgres_url) as conn:
        correct = conn.execute(
            "SELECT count(*) FROM trials WHERE (metrics->>'correct')::boolean"
        ).fetchone()
        kinds = conn.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'trials' AND column_name = 'metrics'"
        ).fetchone()
    assert correct == (2,) and kinds == ("jsonb",)  # i0 and i10


def test_values_jsonb_cannot_hold_are_stored_as_null_and_a_replacement_character(
    store: ResultStore,
) -> None:
    run_id = store.create_run(HEADER, {})
    odd = dataclasses.replace(
        _record(
            "x\x00",
            metrics={"score": float("nan")},
            output="a\x00b",
            logs=[{"level": "info", "message": "m\x00", "at": 0.0, "meta": {"v": float("nan")}}],
        ),
        item={"input": float("inf"), "expected": "e\x00"},
    )
    plain = _record("y", output="fine")  # its columns need nothing: kept as they are
    store.record_trials([(run_id, odd, "main"), (run_id, plain, "main")])
    odd_trial, plain_trial = store.stored_trials(run_id)
    assert odd_trial["metrics"] == {"score": None} and odd_trial["output"] == "a\ufffdb"
    assert odd_trial["item_id"] == "x\ufffd" and plain_trial["output"] == "fine"
    assert store.items(run_id)["x\ufffd"]["input"] is None
    assert store.items(run_id)["x\ufffd"]["expected"] == "e\ufffd"
    assert [line[2] for line in store.logs(run_id)[odd_trial["trial_key"]]] == ["m\ufffd"]


def test_an_older_schema_is_migrated_in_place_keeping_its_results(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_crucible.store import postgres_connection

    with closing(open_store(postgres_url, side_folder=tmp_path)) as old:
        run_id = old.create_run(HEADER, {})
        old.record_trial(run_id, _record("x"), "main")
    current = postgres_connection.SCHEMA_VERSION
    step = "ALTER TABLE trials ADD COLUMN reviewed TEXT; CREATE TABLE added_later (x TEXT);"
    monkeypatch.setattr(postgres_connection, "SCHEMA_VERSION", current + 1)
    monkeypatch.setattr(postgres_connection, "MIGRATIONS", {current: step})
    with closing(open_store(postgres_url, side_folder=tmp_path)) as new:
        assert new.completed_keys(run_id) == ["a-x-0"]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM crucible_schema").fetchone() == (current + 1,)
        assert conn.execute("SELECT reviewed FROM trials").fetchall() == [(None,)]


def test_a_version_2_store_reads_without_cancels_or_instances_and_gains_them_when_written(
    postgres_url: str, tmp_path: Path
) -> None:
    """Version 3 (issue 18) adds run_cancels, instances and two trial indexes: a version 2
    store read as it is has no requests and no instances; opened to write, it is migrated."""
    with closing(open_store(postgres_url, side_folder=tmp_path)) as store:
        run_id = store.create_run(HEADER, {})
        store.record_trial(run_id, _record("x"), "main")
    with psycopg.connect(postgres_url) as conn:  # what version 2 looked like
        conn.execute(
            "DROP TABLE run_cancels; DROP TABLE instances; DROP INDEX trials_in_order;"
            " DROP INDEX trials_by_status; UPDATE crucible_schema SET version = 2"
        )
    with closing(open_store(postgres_url, side_folder=tmp_path, readonly=True)) as old:
        assert old.cancel_request(run_id) is None and old.instances() == []
        assert old.instance("x") is None and old.run_progress(run_id).stored == 1
    with closing(open_store(postgres_url, side_folder=tmp_path)) as store:
        assert store.request_cancel(run_id, "stop") and store.cancel_request(run_id) == "stop"
        assert store.completed_keys(run_id) == ["a-x-0"]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM crucible_schema").fetchone() == (3,)


def test_two_stores_write_one_run_at_once_and_one_of_many_takes_its_hold(
    store: ResultStore, postgres_url: str, tmp_path: Path
) -> None:
    run_id = store.create_run(HEADER, {})
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(first: int) -> None:  # overlapping trials: 0-59 and 40-99
        try:
            with closing(open_store(postgres_url, side_folder=tmp_path)) as mine:
                start.wait(timeout=60)
                for n in range(first, first + 60, 5):
                    mine.record_trials([(run_id, _record(f"i{m}"), "w") for m in range(n, n + 5)])
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    holders: list[RunHolder | None] = []

    def hold(pid: int) -> None:
        with closing(open_store(postgres_url, side_folder=tmp_path)) as mine:
            me = RunHolder("host", pid, "t0", "t0", 60.0)
            start.wait(timeout=60)
            holders.append(mine.hold_run("joined", me, lambda other: False))

    threads = [threading.Thread(target=write, args=(first,)) for first in (0, 40)]
    threads += [threading.Thread(target=hold, args=(pid,)) for pid in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert errors == []
    attempts = {t["item_id"]: t["attempts"] for t in store.stored_trials(run_id)}
    assert len(attempts) == 100 and sorted(set(attempts.values())) == [1, 2]
    assert sum(attempts.values()) == 120  # the 20 written twice count two attempts
    assert len(store.logs(run_id)) == 100 and len(store.items(run_id)) == 100
    assert holders.count(None) == 1 and len(holders) == 2  # one took it, one saw it held


def test_a_batch_the_server_aborts_for_a_deadlock_is_written_again(
    store: ResultStore, postgres_url: str, tmp_path: Path
) -> None:
    """Two writers storing the same items in opposite orders wait on each other's rows;
    the server aborts one transaction (a deadlock), which is then run again, not lost."""
    run_id = store.create_run(HEADER, {})
    forward = [(run_id, _record(f"i{n}", repeat=1), "w1") for n in range(40)]
    jobs = {"forward": forward, "backward": [(r, t, "w2") for r, t, _ in reversed(forward)]}
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            with closing(open_store(postgres_url, side_folder=tmp_path)) as mine:
                start.wait(timeout=60)
                for _ in range(10):
                    mine.record_trials(jobs[name])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(name,)) for name in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=100)
    assert errors == []
    assert [t["attempts"] for t in store.stored_trials(run_id)] == [20] * 40


def test_a_connection_the_server_dropped_is_opened_again(
    store: ResultStore, postgres_server: PostgresServer, postgres_url: str
) -> None:
    run_id = store.create_run(HEADER, {})
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )
    with pytest.raises(StoreError, match="store postgresql://crucible:\\*\\*\\*@"):
        store.record_trial(run_id, _record("x"), "main")  # the writer journals this one
    store.record_trial(run_id, _record("y"), "main")
    assert store.completed_keys(run_id) == ["a-y-0"]


# -- opening fails with a message that says what to do -------------------------------------


def test_an_unreachable_server_is_named_with_what_to_check(
    postgres_server: PostgresServer,
) -> None:
    closed = postgres_server.url("db").replace(str(postgres_server.port), "1")
    message = _refused(closed)
    assert "cannot reach the PostgreSQL server" in message and "host and port" in message
    assert "postgresql://crucible:***@127.0.0.1:1/db" in message


def test_wrong_credentials_and_a_missing_database(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    wrong = postgres_url.replace(ROLE_PASSWORD, "not-" + ROLE_PASSWORD)
    message = _refused(wrong)
    assert "not-" not in message and "PGPASSWORD or ~/.pgpass" in message
    message = _refused(postgres_server.url("nowhere"))
    assert 'database "nowhere" does not exist' in message and "createdb" in message


def test_a_role_without_the_right_to_create_tables(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    postgres_server.admin(f"CREATE ROLE visitor LOGIN PASSWORD '{ROLE_PASSWORD}'")
    database = postgres_url.rsplit("/", 1)[1]
    message = _refused(postgres_server.url(database, user="visitor"))
    assert "may not create the store's tables" in message
    assert "GRANT CREATE ON SCHEMA public TO USER" in message


def test_reading_a_database_without_a_store(postgres_url: str) -> None:
    message = _refused(postgres_url, readonly=True)
    assert "holds no pytest-crucible results" in message


def test_a_server_older_than_postgresql_12_is_refused(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_crucible.store import postgres_connection

    monkeypatch.setattr(postgres_connection, "server_version", lambda conn: 110022)
    message = _refused(postgres_url)
    assert "PostgreSQL 11.22" in message and "needs PostgreSQL 12.0 or newer" in message


def test_a_store_written_by_a_newer_version_is_refused(
    store: ResultStore, postgres_url: str
) -> None:
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE crucible_schema SET version = 99")
    message = _refused(postgres_url)
    assert "schema version 99, written by a newer pytest-crucible" in message
    assert "upgrade pytest-crucible" in message
    assert "schema version 99" in _refused(postgres_url, readonly=True)


def test_a_url_that_is_not_valid(postgres_server: PostgresServer) -> None:
    message = _refused(f"postgresql://{ROLE}:{ROLE_PASSWORD}@127.0.0.1/db?nonsense=1")
    assert "not a valid PostgreSQL URL" in message and "postgresql://USER:PASSWORD@" in message


def test_without_psycopg_a_url_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg fails
    for name in [m for m in sys.modules if m.startswith("pytest_crucible.store.postgres")]:
        monkeypatch.delitem(sys.modules, name)
    message = _refused(f"postgresql://{ROLE}:{ROLE_PASSWORD}@127.0.0.1/db")
    assert "pip install 'pytest-crucible[postgres]'" in message


# -- passwords from where libpq reads them --------------------------------------------------


def test_a_url_without_password_uses_pgpassword(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    bare = postgres_server.url(database, password=None)
    monkeypatch.setenv("PGPASSFILE", os.devnull)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert "PGPASSWORD or ~/.pgpass" in _refused(bare)
    monkeypatch.setenv("PGPASSWORD", ROLE_PASSWORD)
    with closing(open_store(bare)) as opened:
        assert opened.runs() == [] and opened.location == bare


def test_a_url_without_password_uses_the_pgpass_file(
    postgres_server: PostgresServer,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    pgpass = tmp_path / ".pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres_server.port}:{database}:{ROLE}:{ROLE_PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    with closing(open_store(postgres_server.url(database, password=None))) as opened:
        assert opened.runs() == []
