"""The SQLite store and the pandas loaders, without pytest in between."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import pytest_crucible as crucible
from e2e_support import sql
from pytest_crucible.session.inputs import resolve_resume
from pytest_crucible.store.frames import metric_columns
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.schema import SCHEMA_VERSION
from pytest_crucible.store.sqlite import Store
from pytest_crucible.store.sqlite_checks import sql_statements

HEADER = {
    "name": "caps",
    "description": "",
    "fingerprint": "f" * 16,
    "dataset_fingerprint": "d" * 16,
    "config": {"t": 0},
    "seed": 3,
    "repeat": 1,
    "conditions": ["a", "b"],
    "baseline": "a",
    "metrics": {},
    "total_trials": 4,
    "items": 2,
}


def _result(condition: str, item: str, status: str = "passed", **metrics: Any) -> TrialRecord:
    return TrialRecord.from_json(
        {
            "experiment": "caps",
            "key": f"{condition}{item}",
            "condition": condition,
            "item_id": item,
            "repeat": 0,
            "cluster": None,
            "item": {"input": item, "expected": None, "metadata": {}},
            "status": status,
            "metrics": metrics,
            "output": f"out-{item}",
            "error": None,
            "calls": 1,
            "latency_s": 0.5,
            "logs": [{"level": "info", "message": "hi", "meta": {}, "at": 0.0}],
            "artifacts": [],
            "warnings": [],
            "started_at": 0.0,
            "ended_at": 1.0,
        }
    )


def test_round_trip_into_pandas(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    run_id = store.create_run(HEADER, {"git": {"commit": "abc", "dirty": False}})
    store.record_trial(run_id, _result("a", "x", correct=True), "gw0")
    store.record_trial(run_id, _result("b", "x", correct=False, score=0.5, latency_s=2), "gw1")
    store.record_trial(run_id, _result("a", "y", status="failed"), "gw0")
    store.close()
    frame = crucible.load_trials(store=tmp_path / "s.db")
    assert list(frame["condition"]) == ["a", "a", "b"]
    assert frame["correct"].tolist()[:1] == [1.0] and frame["score"].isna().tolist() == [
        True,
        True,
        False,
    ]
    assert frame.loc[2, "output"] == "out-x" and frame.loc[1, "status"] == "failed"
    # a metric named like a fixed column keeps its name; the fixed column is renamed
    assert frame["latency_s"].tolist()[2] == 2.0 and frame["trial_latency_s"].tolist()[2] == 0.5
    assert metric_columns(frame) == ["correct", "score", "latency_s"]
    runs = crucible.load_runs(tmp_path / "s.db")
    assert runs.loc[0, "run_id"] == run_id and runs.loc[0, "stored_trials"] == 3
    # the documented schema works with plain pandas.read_sql
    with sqlite3.connect(tmp_path / "s.db") as conn:
        raw = pd.read_sql(
            "SELECT condition, json_extract(metrics, '$.correct') AS correct FROM trials "
            "WHERE run_id = ? ORDER BY condition, item_id",
            conn,
            params=(run_id,),
        )
    assert raw["correct"].tolist()[0] == 1


def test_rerun_replaces_the_trial_and_counts_attempts(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    run_id = store.create_run(HEADER, {})
    store.record_trial(run_id, _result("a", "x", status="failed"), "main")
    assert store.completed_keys(run_id) == []
    store.record_trial(run_id, _result("a", "x", correct=True), "main")
    rows = sql(store.path, "SELECT status, attempts FROM trials")
    assert [tuple(r) for r in rows] == [("passed", 2)]
    assert store.completed_keys(run_id) == ["ax"]
    assert len(sql(store.path, "SELECT * FROM logs")) == 2


def test_a_batch_larger_than_one_statement_stores_every_row(tmp_path: Path) -> None:
    """record_trials writes a batch with multi-row INSERTs, split at SQLite's parameter
    limit; a trial that comes twice in one batch is an upsert, as when stored one by one."""
    store = Store(tmp_path / "s.db")
    store._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # SQLite before 3.32
    run_id = store.create_run(HEADER, {})
    batch = [(run_id, _result("a", f"i{n}", score=n / 7), "main") for n in range(250)]
    calls = [
        {
            "cache_key": f"k{n}",
            "backend": "b",
            "model": "m",
            "request": {"n": n},
            "response": {"text": "t"},
        }
        for n in range(3)
    ]
    batch[5][1].model_calls = calls
    batch.append((run_id, _result("a", "i7", status="failed"), "gw1"))
    store.record_trials(batch)
    rows = {r["item_id"]: r for r in sql(store.path, "SELECT * FROM trials")}
    assert len(rows) == 250
    assert rows["i7"]["status"] == "failed" and rows["i7"]["attempts"] == 2
    assert rows["i7"]["worker"] == "gw1"
    assert rows["i100"]["metrics"] == '{"score": 14.285714285714286}'
    assert rows["i100"]["latency_s"] == 0.5 and rows["i100"]["repeat"] == 0
    assert len(sql(store.path, "SELECT * FROM items")) == 250
    assert len(sql(store.path, "SELECT * FROM logs")) == 251
    stored_calls = sql(
        store.path, "SELECT cache_key, trial_key FROM model_calls ORDER BY cache_key"
    )
    assert [tuple(r) for r in stored_calls] == [("k0", "ai5"), ("k1", "ai5"), ("k2", "ai5")]


def test_resume_targets(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    old = store.create_run(HEADER, {})
    new = store.create_run(HEADER, {})
    store.record_trial(new, _result("a", "x"), "main")
    latest = resolve_resume(store, "latest")
    assert latest["caps"].run_id == new and latest["caps"].completed == {"ax"}
    assert resolve_resume(store, old)["caps"].run_id == old
    with pytest.raises(crucible.ResumeError, match=f"runs of 'caps': {new} .*{old}"):
        resolve_resume(store, "0badc0de")
    with pytest.raises(crucible.ResumeError, match="names two runs"):
        resolve_resume(store, f"{old},{new}")
    assert resolve_resume(store, None) == {}


def test_loading_errors(tmp_path: Path) -> None:
    with pytest.raises(crucible.StoreError, match="does not exist"):
        crucible.load_trials(store=tmp_path / "none.db")
    Store(tmp_path / "empty.db").close()
    with pytest.raises(crucible.StoreError, match="holds no runs"):
        crucible.load_trials(store=tmp_path / "empty.db")
    with pytest.raises(crucible.StoreError, match="has no run 'nope'"):
        crucible.load_trials("nope", store=tmp_path / "empty.db")


VERSION_1 = (  # what a version 1 store looked like, made from a current one
    "ALTER TABLE trials DROP COLUMN recovery; ALTER TABLE trials DROP COLUMN usage;"
    "ALTER TABLE trials DROP COLUMN results; ALTER TABLE runs DROP COLUMN author;"
    "ALTER TABLE runs DROP COLUMN version; ALTER TABLE runs DROP COLUMN tags;"
    "DROP TABLE model_calls; PRAGMA user_version = 1;"
)


def test_a_version_1_store_is_migrated_in_place(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    run_id = store.create_run(HEADER, {})
    store.record_trial(run_id, _result("a", "x", correct=True), "main")
    store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.executescript(VERSION_1)
    store = Store(tmp_path / "s.db")
    assert sql(store.path, "PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert [r["status"] for r in sql(store.path, "SELECT status FROM trials")] == ["passed"]
    result = _result("b", "x", correct=False)
    result.recovery = {"attempts": 2, "final_status": "success"}
    result.model_calls = [
        {
            "cache_key": "k1",
            "backend": "openai-compatible",
            "model": "m",
            "request": {"model": "m"},
            "response": {"content": "hi"},
        }
    ]
    result.usage = {"input_tokens": 5, "output_tokens": 2, "model_calls": 1, "truncated": 1}
    store.record_trial(run_id, result, "main")
    rows = sql(store.path, "SELECT json_extract(recovery, '$.attempts') AS n FROM trials")
    assert sorted(r["n"] or 0 for r in rows) == [0, 2]
    rows = sql(store.path, "SELECT json_extract(usage, '$.truncated') AS n FROM trials")
    assert sorted(r["n"] or 0 for r in rows) == [0, 1]
    assert [tuple(r) for r in sql(store.path, "SELECT cache_key, run_id FROM model_calls")] == [
        ("k1", run_id)
    ]
    store.close()


def _open_at_once(path: Path, processes: int = 3) -> list[BaseException]:
    """`processes` connections open the store at once (threads released together, each
    with its own SQLite connection, as processes would); the errors they met."""
    start = threading.Barrier(processes)
    errors: list[BaseException] = []

    def open_it() -> None:
        start.wait()
        try:
            Store(path).close()
        except BaseException as exc:  # the test reports what any opener met
            errors.append(exc)

    openers = [threading.Thread(target=open_it) for _ in range(processes)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join()
    return errors


def test_processes_that_open_an_older_store_at_once_migrate_it_once(tmp_path: Path) -> None:
    """Joined processes, or a CI matrix after an upgrade, open one older store at once: one
    migrates it, the others find it migrated (the version is read again under the write
    lock). Before, each read the old version first, and all but one failed with "duplicate
    column name: recovery" (29 of 30 rounds)."""
    for round_ in range(5):
        path = tmp_path / f"s{round_}.db"
        store = Store(path)
        run_id = store.create_run(HEADER, {})
        store.record_trial(run_id, _result("a", "x", correct=True), "main")
        store.close()
        with sqlite3.connect(path) as conn:
            conn.executescript(VERSION_1)
        assert _open_at_once(path) == []
        assert sql(path, "PRAGMA user_version")[0][0] == SCHEMA_VERSION
        assert [r["status"] for r in sql(path, "SELECT status FROM trials")] == ["passed"]


def test_processes_that_open_a_new_store_at_once_create_it_once(tmp_path: Path) -> None:
    """Switching a new store to WAL mode may find it locked by another opener, and SQLite
    says so at once instead of waiting: 9 openings failed in 200 rounds of three ("locked by
    another process"). 100 rounds: without the wait, this test failed 4 times in 4."""
    for round_ in range(100):
        path = tmp_path / f"new{round_}.db"
        assert _open_at_once(path) == []
        assert sql(path, "PRAGMA user_version")[0][0] == SCHEMA_VERSION


def test_a_script_is_split_where_its_statements_end() -> None:
    script = (
        "CREATE TABLE t (a TEXT DEFAULT 'x;y'); -- a comment; with a semicolon\n"
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN UPDATE t SET a = 'z'; END;\n"
        "  \n"
    )
    assert [s.strip() for s in sql_statements(script)] == [
        "CREATE TABLE t (a TEXT DEFAULT 'x;y');",
        "-- a comment; with a semicolon\nCREATE TRIGGER g AFTER INSERT ON t BEGIN "
        "UPDATE t SET a = 'z'; END;",
    ]


def test_a_version_3_store_reads_read_only_and_gains_the_new_columns_when_written(
    tmp_path: Path,
) -> None:
    """Schema 4 adds trials.results and runs.author, version, tags: a store of version 3
    opened read-only (load_trials, load_runs, reports) reads them as empty; opened for
    writing, it is migrated and keeps its trials."""
    store = Store(tmp_path / "s.db")
    run_id = store.create_run({**HEADER, "author": "Ada", "tags": ["h1"]}, {})
    store.record_trial(run_id, _result("a", "x", correct=True), "main")
    store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:  # what version 3 looked like
        conn.executescript(
            "ALTER TABLE trials DROP COLUMN results; ALTER TABLE runs DROP COLUMN author;"
            "ALTER TABLE runs DROP COLUMN version; ALTER TABLE runs DROP COLUMN tags;"
            "PRAGMA user_version = 3;"
        )
    frame = crucible.load_trials(run_id, store=tmp_path / "s.db")
    assert frame["results"].tolist() == [None] and frame["correct"].tolist() == [1.0]
    runs = crucible.load_runs(tmp_path / "s.db")
    assert runs.loc[0, "author"] is None and runs.loc[0, "tags"] == ["h1"]  # from the header
    store = Store(tmp_path / "s.db")
    assert sql(store.path, "PRAGMA user_version")[0][0] == SCHEMA_VERSION
    record = _result("b", "x", correct=False)
    record.results = {"why": "kept"}
    store.record_trial(run_id, record, "main")
    rows = sql(store.path, "SELECT condition, results FROM trials ORDER BY condition")
    assert [(r["condition"], r["results"]) for r in rows] == [("a", None), ("b", '{"why": "kept"}')]
    store.close()


def test_a_version_4_store_reads_without_cancels_or_instances_and_gains_them_when_written(
    tmp_path: Path,
) -> None:
    """Schema 5 (issue 18) adds the tables run_cancels and instances and the index
    trials_by_status: a version 4 store read as it is has no requests and no instances;
    opened for writing, it is migrated and keeps its trials."""
    store = Store(tmp_path / "s.db")
    run_id = store.create_run(HEADER, {})
    store.record_trial(run_id, _result("a", "x", correct=True), "main")
    store.close()
    with sqlite3.connect(tmp_path / "s.db") as conn:  # what version 4 looked like
        conn.executescript(
            "DROP TABLE run_cancels; DROP TABLE instances; DROP INDEX trials_by_status;"
            "PRAGMA user_version = 4;"
        )
    old = Store(tmp_path / "s.db", readonly=True)
    assert old.cancel_request(run_id) is None and old.instances() == []
    assert old.instance("x") is None and old.run_progress(run_id).stored == 1
    old.close()
    store = Store(tmp_path / "s.db")
    assert sql(store.path, "PRAGMA user_version")[0][0] == SCHEMA_VERSION == 5
    assert store.request_cancel(run_id, "stop") and store.cancel_request(run_id) == "stop"
    plan = sql(
        store.path,
        "EXPLAIN QUERY PLAN SELECT condition FROM trials WHERE run_id = 'r' AND status = 'failed'"
        " ORDER BY condition, item_id, repeat LIMIT 50",
    )
    assert "trials_by_status" in " ".join(row["detail"] for row in plan)
    assert store.completed_keys(run_id) == [store.stored_trials(run_id)[0]["trial_key"]]
    store.close()
