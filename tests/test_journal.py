"""The per-process journal of finished trials: imported once, never over a stored trial,
never while its process lives."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_support import sql
from pytest_crucible.store.journal import Journal, import_journals, journal_folder
from pytest_crucible.store.sqlite import Store
from test_store import HEADER, _result


def test_a_live_journal_waits_then_is_imported_once_and_deleted(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    journal = Journal(journal_folder(store))
    journal.append("run00001", HEADER, _result("a", "x"), "gw0")
    journal.append("run00001", HEADER, _result("b", "x"), "gw0")
    assert import_journals(store).added == {}  # its process still holds it
    journal.close()
    imported = import_journals(store)
    assert imported.added == {"run00001": 2}
    assert "imported 2 finished trial(s)" in (imported.message() or "")
    info = store.run("run00001")
    assert info is not None and (info.status, info.stored_trials) == ("interrupted", 2)
    assert sql(store.path, "SELECT count(*) FROM logs")[0][0] == 2
    assert not journal_folder(store).exists()
    assert import_journals(store).added == {}


def test_a_stored_trial_wins_over_its_journalled_copy(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    run_id = store.create_run(HEADER, {})
    store.record_trial(run_id, _result("a", "x", status="failed"), "main")
    journal = Journal(journal_folder(store))
    journal.append(run_id, HEADER, _result("a", "x"), "gw0")
    journal.append(run_id, None, _result("a", "y"), "gw0")
    journal.close()
    with journal.path.open("a") as file:
        file.write('{"run_id": "' + run_id + '", "trial": {"condi')  # killed mid-write
    assert import_journals(store).added == {run_id: 1}
    rows = sql(store.path, "SELECT item_id, status, attempts FROM trials ORDER BY item_id")
    assert [tuple(row) for row in rows] == [("x", "failed", 1), ("y", "passed", 1)]
    assert sql(store.path, "SELECT count(*) FROM logs")[0][0] == 2  # no log twice


def test_a_journal_the_store_cannot_take_stays(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    journal = Journal(journal_folder(store))
    journal.append("run00002", None, _result("a", "x"), "gw0")  # no header: cannot be placed
    journal.close()
    imported = import_journals(store)
    assert imported.added == {} and "run00002 is not in the store" in imported.kept[0]
    assert json.loads(journal.path.read_text())["run_id"] == "run00002"


def test_the_lines_of_stored_trials_are_skipped_without_being_decoded(tmp_path: Path) -> None:
    """A session's own journal holds every trial it ran, and the store has them all: the
    import reads each line's run and key, and decodes only the trials the store lacks (a
    line of an older journal, without the key up front, is decoded as before)."""
    store = Store(tmp_path / "s.db")
    run_id = store.create_run(HEADER, {})
    store.record_trial(run_id, _result("a", "x"), "main")
    journal = Journal(journal_folder(store))
    journal.append(run_id, HEADER, _result("a", "x"), "gw0")
    journal.close()
    written = journal.path.read_text().splitlines()
    stored_key = json.loads(written[-1])["key"]
    assert written[-1].startswith(f'{{"run_id": "{run_id}", "key": "{stored_key}", ')
    older = json.loads(written[-1])
    older["trial"] = _result("a", "y").to_json()
    del older["key"]  # the format before keys led the line
    with journal.path.open("a") as file:
        # the body of a stored trial's line is never read: not even a record here
        file.write(json.dumps({"run_id": run_id, "key": stored_key, "trial": {"no": 1}}) + "\n")
        file.write(json.dumps(older) + "\n")
    imported = import_journals(store)
    assert imported.added == {run_id: 1} and imported.kept == []
    rows = sql(store.path, "SELECT item_id FROM trials ORDER BY item_id")
    assert [row[0] for row in rows] == ["x", "y"]
    assert not journal_folder(store).exists()
