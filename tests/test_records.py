"""The typed trial record: its JSON form, and the trials table declared once."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

from pytest_crucible.session.payload import TrialPayload
from pytest_crucible.store.records import TRIAL_COLUMNS, TrialRecord, column_names
from pytest_crucible.store.rows import table_rows
from pytest_crucible.store.schema import DDL
from pytest_crucible.store.sqlite import Store
from test_store import HEADER


def _full_record() -> TrialRecord:
    """A record whose every field holds a value of its own (none left at its default)."""
    return TrialRecord(
        experiment="caps",
        key="k-a-x-2",
        condition="a",
        item_id="x",
        repeat=2,
        status="failed",
        cluster="c1",
        item={"input": "q", "expected": "A", "metadata": {"m": 1}},
        metrics={"correct": True, "score": 0.25},
        output={"text": "answer"},
        error={"type": "ValueError", "message": "bad", "where": "condition", "traceback": ""},
        calls=3,
        latency_s=1.5,
        logs=[{"level": "info", "message": "hi", "meta": {"n": 1}, "at": 10.0}],
        artifacts=[{"name": "a.txt", "encoding": "text", "data": "t"}],
        warnings=["w1"],
        recovery={"attempts": 2, "final_status": "exhausted", "error_history": []},
        started_at=100.0,
        ended_at=101.5,
        usage={"input_tokens": 7, "output_tokens": 5, "cost_usd": 0.01, "model_calls": 1},
        model_calls=[
            {"cache_key": "ck", "backend": "b", "model": "m", "request": {}, "response": {}}
        ],
        results={"answer": {"text": "A", "ids": [1, 2]}},
    )


def test_every_field_survives_the_json_form_and_a_json_text_round_trip() -> None:
    record = _full_record()
    defaults = TrialRecord("e", "k", "c", "i", 0, "passed")
    unset = [
        f.name
        for f in dataclasses.fields(TrialRecord)
        if getattr(record, f.name) == getattr(defaults, f.name)
    ]
    assert unset == []  # the round trip below covers every field
    assert TrialRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_a_record_without_model_calls_keeps_its_json_form_free_of_them() -> None:
    record = dataclasses.replace(_full_record(), usage=None, model_calls=[])
    data = record.to_json()
    assert "usage" not in data and "model_calls" not in data
    assert TrialRecord.from_json(data) == record


def test_a_payload_round_trips_through_its_json_form() -> None:
    payload = TrialPayload(_full_record(), "gw1", dict(HEADER), {"breaker": None}, "abort")
    assert TrialPayload.from_json(json.loads(json.dumps(payload.to_json()))) == payload
    bare = TrialPayload(_full_record(), "main")
    assert set(bare.to_json()) == {"trial", "header", "worker"}


def test_the_trials_table_is_the_declared_columns_in_order() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(DDL)
    table = [(row[1], row[2]) for row in conn.execute("PRAGMA table_info(trials)")]
    assert table == [(c.name, c.sql.split()[0]) for c in TRIAL_COLUMNS]


def test_a_stored_record_fills_each_written_column_with_its_own_value(tmp_path: Path) -> None:
    """The INSERT's values line up with the declared columns (rows.py builds them in order)."""
    store = Store(tmp_path / "s.db")
    run_id = store.create_run(HEADER, {})
    record = _full_record()
    store.record_trial(run_id, record, "gw3")
    ((_, trials),) = [(s, r) for s, r in table_rows([(run_id, record, "gw3")]) if "trials(" in s[0]]
    stored = _stored_row(tmp_path / "s.db")
    expected: dict[str, Any] = {
        "run_id": run_id,
        "condition": "a",
        "item_id": "x",
        "repeat": 2,
        "trial_key": "k-a-x-2",
        "cluster": "c1",
        "status": "failed",
        "metrics": record.metrics,
        "results": record.results,
        "output": record.output,
        "error": record.error,
        "attempts": 1,
        "calls": 3,
        "latency_s": 1.5,
        "input_tokens": 7,
        "output_tokens": 5,
        "cost_usd": 0.01,
        "usage": {"model_calls": 1},
        "artifacts": record.artifacts,
        "warnings": ["w1"],
        "recovery": record.recovery,
        "worker": "gw3",
        "started_at": "1970-01-01T00:01:40.000+00:00",
        "ended_at": "1970-01-01T00:01:41.500+00:00",
    }
    assert list(expected) == [c.name for c in TRIAL_COLUMNS]
    assert stored == expected
    assert len(trials[0]) == len(column_names(written=True))
    store.close()


def _stored_row(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    (row,) = conn.execute("SELECT * FROM trials").fetchall()
    conn.close()
    decoded = set(column_names(json=True))
    return {k: json.loads(row[k]) if k in decoded else row[k] for k in row.keys()}  # noqa: SIM118
