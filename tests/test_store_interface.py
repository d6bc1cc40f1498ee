"""The store's interface: every backend implements every named operation, and no module
outside `store/` writes SQL.

The conformance tests are written against `ResultStore` and run for each backend in
`BACKENDS` (SQLite, and PostgreSQL on the real server of tests/postgres_server.py).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import pytest_crucible
from pytest_crucible.errors import StoreError
from pytest_crucible.store import open_store
from pytest_crucible.store.console_records import Instance, TrialPage
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.postgres import PostgresStore
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.run_records import RunHolder, StoredBaseline
from pytest_crucible.store.sqlite import Store
from test_store import HEADER

# backend -> (its class, the location of a new store of it: from a test's folder and request)
BACKENDS: dict[str, tuple[type, Callable[[Path, pytest.FixtureRequest], str]]] = {
    "sqlite": (Store, lambda folder, _: str(folder / "crucible.db")),
    "postgresql": (PostgresStore, lambda _, request: _new_database(request)),
}


def _open(backend: str, folder: Path, request: pytest.FixtureRequest) -> ResultStore:
    """A new store of `backend` (its side files in `folder`)."""
    _, location = BACKENDS[backend]
    return open_store(location(folder, request), side_folder=folder)


def _new_database(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh database of the test's server, dropped after the test (a test
    that opens two stores gets two databases)."""
    server = request.getfixturevalue("postgres_server")
    name = server.new_database()
    request.addfinalizer(lambda: server.drop_database(name))
    return str(server.url(name))


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResultStore]:
    with closing(_open(request.param, tmp_path, request)) as opened:
        yield opened


def _operations() -> dict[str, inspect.Signature]:
    members = {
        name: member
        for name, member in vars(ResultStore).items()
        if callable(member) and not name.startswith("_")
    }
    return {name: inspect.signature(member) for name, member in members.items()}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_the_backend_implements_every_operation_of_the_interface(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cls, _ = BACKENDS[backend]
    operations = _operations()
    assert len(operations) >= 25  # the interface is read as declared, not as an empty dict
    for name, declared in operations.items():
        implemented = getattr(cls, name, None)
        assert callable(implemented), f"{cls.__name__} lacks {name}"
        assert list(inspect.signature(implemented).parameters) == list(declared.parameters), name
    opened = _open(backend, tmp_path, request)
    try:
        for attribute in ResultStore.__annotations__:
            assert hasattr(opened, attribute), f"{cls.__name__} lacks {attribute}"
    finally:
        opened.close()


def _record(condition: str, item: str, status: str = "passed", **changes: Any) -> TrialRecord:
    fields: dict[str, Any] = {
        "experiment": "caps",
        "key": f"{condition}-{item}",
        "condition": condition,
        "item_id": item,
        "repeat": 0,
        "status": status,
        "item": {"input": f"in-{item}", "expected": "E", "metadata": {}},
        "metrics": {"correct": status == "passed"},
        "output": f"out-{item}",
        "calls": 2,
        "latency_s": 1.0,
        "logs": [{"level": "info", "message": f"log {item}", "meta": {}, "at": 0.0}],
        "started_at": 0.0,
        "ended_at": 1.0,
    }
    return TrialRecord(**(fields | changes))


def _run_with_trials(store: ResultStore) -> str:
    run_id = store.create_run(HEADER, {"git": {"commit": "abc", "dirty": False}})
    usage = {"input_tokens": 10, "output_tokens": 4, "cost_usd": 0.5, "model_calls": 2}
    store.record_trials(
        [
            (run_id, _record("a", "x", usage=usage | {"cache_hits": 1}), "gw0"),
            (run_id, _record("a", "y", "failed", metrics={}), "gw1"),
            (run_id, _record("b", "x", usage=usage | {"truncated": 1, "truncated_at": 16}), "gw0"),
        ]
    )
    return run_id


def test_runs_are_created_listed_resumed_and_finished(store: ResultStore) -> None:
    run_id = _run_with_trials(store)
    info = store.run(run_id)
    assert info is not None and (info.stored_trials, info.passed_trials) == (3, 2)
    assert [r.run_id for r in store.runs("caps")] == [run_id] and store.runs("other") == []
    assert store.run("nope") is None
    assert store.run_header(run_id)["name"] == "caps"
    store.resume_run(run_id, HEADER)
    store.finish_run(run_id, "completed")
    store.save_analysis(run_id, {"metrics": []})
    record = store.run_record(run_id)
    assert (record.columns["status"], record.columns["sessions"]) == ("completed", 2)
    assert record.columns["git_commit"] == "abc" and record.config == {"t": 0}
    assert record.environment["git"]["dirty"] is False and record.analysis == {"metrics": []}
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.run_record("nope")


def test_a_runs_trials_read_back_in_every_shape(store: ResultStore) -> None:
    run_id = _run_with_trials(store)
    assert store.completed_keys(run_id) == ["a-x", "b-x"] and store.failed_keys(run_id) == ["a-y"]
    table = store.trial_table(run_id, include_outputs=True)
    assert [(t["condition"], t["item_id"], t["status"]) for t in table] == [
        ("a", "x", "passed"),
        ("a", "y", "failed"),
        ("b", "x", "passed"),
    ]
    assert table[0]["metrics"] == {"correct": True} and table[0]["output"] == "out-x"
    assert (table[0]["cache_hits"], table[2]["truncated_at"]) == (1, 16)
    assert "output" not in store.trial_table(run_id)[0]
    stored = store.stored_trials(run_id)
    assert stored[1]["error"] is None and stored[1]["worker"] == "gw1"
    assert stored[0]["usage"] == {"model_calls": 2, "cache_hits": 1}
    lines = store.trial_lines(run_id)
    assert len(lines) == 3 and '"run_id":"' + run_id in lines[0].replace(" ", "")
    with_lines = store.trial_table(run_id, include_outputs=True, with_lines=True)
    assert [row.pop("line") for row in with_lines] == lines  # the same lines, in one read
    assert with_lines == table
    assert store.items(run_id)["y"]["input"] == "in-y"
    assert store.logs(run_id)["a-y"][0][::2] == ("info", "log y")


def test_a_trial_stored_twice_counts_its_attempts_and_imports_keep_what_is_stored(
    store: ResultStore,
) -> None:
    run_id = _run_with_trials(store)
    store.record_trial(run_id, _record("a", "y"), "main")
    assert store.run(run_id).passed_trials == 3  # type: ignore[union-attr]
    assert [t["attempts"] for t in store.stored_trials(run_id)] == [1, 2, 1]
    added = store.import_trials(
        [
            (run_id, _record("a", "y", "failed"), "journal"),  # stored already: kept
            (run_id, _record("c", "x"), "journal"),
            ("unknown", _record("c", "y"), "journal"),  # no such run: left out
        ]
    )
    assert added == {run_id: 1}
    assert [t["status"] for t in store.stored_trials(run_id)] == ["passed"] * 4


def test_spending_timing_and_the_call_cache(store: ResultStore) -> None:
    run_id = _run_with_trials(store)
    call = {"cache_key": "k1", "backend": "b", "model": "m", "request": {}, "response": {"t": 1}}
    store.record_trial(run_id, _record("c", "z", usage={"model_calls": 1}, model_calls=[call]), "m")
    assert store.spent_by_condition(run_id) == {"a": 0.5, "b": 0.5}
    usage = {u.condition: u for u in store.usage_by_condition(run_id)}
    assert (usage["a"].input_tokens, usage["a"].priced_trials, usage["a"].cache_hits) == (10, 1, 1)
    assert (usage["b"].truncated, usage["b"].truncated_at) == (1, 16)
    spans = store.trial_spans(run_id)  # the passed trials, for --crucible-estimate
    assert [(s.condition, s.input_tokens, s.cost_usd) for s in spans][:2] == [
        ("a", 10, 0.5),
        ("b", 10, 0.5),
    ]
    assert spans[0].started_at is not None and spans[0].ended_at is not None
    assert store.sessions(run_id) == []
    store.record_session(run_id, "2026-01-01T00:00:00.000+00:00", "2026-01-01T00:00:09.000+00:00")
    assert store.sessions(run_id) == [
        ("2026-01-01T00:00:00.000+00:00", "2026-01-01T00:00:09.000+00:00")
    ]
    assert store.cached_response("k1") == {"t": 1} and store.cached_response("k2") is None


def test_baselines_are_saved_listed_and_read(store: ResultStore) -> None:
    run_id = _run_with_trials(store)
    assert store.baselines() == []  # a store made before the table: none yet
    kept = StoredBaseline("main", "caps", run_id, "2026-01-01T00:00:00.000+00:00")
    store.save_baseline(kept, {"name": "main", "n": 1})
    store.save_baseline(kept, {"name": "main", "n": 2})  # replaces it
    assert store.baselines() == [kept] and store.baselines("main", "other") == []
    assert store.baseline_document("main", "caps") == {"name": "main", "n": 2}


def test_runs_are_held_refreshed_and_released(store: ResultStore) -> None:
    me = RunHolder("host", 1, "2026-01-01T00:00:00.000+00:00", "2026-01-01T00:00:00.000+00:00", 5.0)
    other = RunHolder("host", 2, me.started_at, me.heartbeat_at, 5.0)
    assert store.hold_run("r1", me, lambda holder: False) is None
    assert store.hold_run("r1", other, lambda holder: False) == me
    assert store.beat(me, ["r1"]) == 1
    store.release_runs(me, ["r1"])
    assert store.beat(me, ["r1"]) == 0
    assert store.hold_run("r1", other, lambda holder: False) is None


# -- no SQL outside store/ ------------------------------------------------------------------

_PACKAGE = Path(pytest_crucible.__file__).parent
_SQL = re.compile(
    r"\b(SELECT\b[\s\S]+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(TABLE|INDEX)|DROP\s+TABLE|ALTER\s+TABLE|PRAGMA\s+\w+|BEGIN\s+IMMEDIATE)\b"
)
_DATABASE_CALLS = {"execute", "executemany", "executescript", "query", "connection"}


def _sql_outside_store(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _SQL.search(node.value):
                found.append(f"line {node.lineno}: SQL in a string: {node.value[:60]!r}")
        elif isinstance(node, ast.Attribute) and node.attr in _DATABASE_CALLS:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any(name.split(".")[0] in ("sqlite3", "psycopg", "sqlalchemy") for name in names):
                found.append(f"line {node.lineno}: imports a database driver")
    return found


def test_no_module_outside_the_store_writes_sql() -> None:
    modules = [p for p in _PACKAGE.rglob("*.py") if "store" not in p.relative_to(_PACKAGE).parts]
    assert len(modules) > 100
    found = {str(p.relative_to(_PACKAGE)): hits for p in modules if (hits := _sql_outside_store(p))}
    assert found == {}


def test_the_sql_check_finds_each_kind_of_sql(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text(
        "import sqlite3\n"
        "rows = store.query('SELECT a FROM t')\n"
        "conn.execute(f'UPDATE runs SET x = {1}')\n"
        "text = 'an English sentence to select from, not SQL'\n"
    )
    hits = _sql_outside_store(module)
    assert [hit.split(":")[0] for hit in hits] == ["line 1", "line 2", "line 2", "line 3", "line 3"]


# -- merging stores (issue 17, point 4: `crucible merge`) ---------------------------------


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_runs_content_is_merged_into_another_store_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    source = _open(backend, tmp_path / "in", request)
    out = _open(backend, tmp_path / "out", request)
    with closing(source), closing(out):
        run_id = _run_with_trials(source)
        call = {"cache_key": "k1", "backend": "b", "model": "m", "request": {}, "response": {}}
        source.record_trial(run_id, _record("c", "z", model_calls=[call]), "m")
        source.record_session(run_id, "2026-01-01T00:00:00", "2026-01-01T00:00:09")
        kept = StoredBaseline("main", "caps", run_id, "2026-01-01T00:00:00")
        source.save_baseline(kept, {"n": 1})
        content = source.run_content(run_id)
        assert content.run["run_id"] == run_id and len(content.trials) == 4
        assert {log["item_id"] for log in content.logs} == {"x", "y", "z"}
        assert content.sessions == [("2026-01-01T00:00:00", "2026-01-01T00:00:09")]
        cache = source.call_cache_entries()
        assert [entry["cache_key"] for entry in cache] == ["k1"]
        with pytest.raises(StoreError, match="no run 'nope'"):
            source.run_content("nope")

        added = out.merge_content([content], cache, [(kept, {"n": 1})])
        assert added == {run_id: 4}
        again = out.run_content(run_id)
        assert again.trials == content.trials and again.items == content.items
        assert again.logs == content.logs and again.sessions == content.sessions
        assert again.run == content.run
        assert out.cached_response("k1") == {} and out.baseline_document("main", "caps") == {"n": 1}

        # again, with one trial whose place is stored and one new: only the new one is added,
        # with its logs; a stored trial is never updated; the run row is replaced
        changed = dict(content.trials[0], status="failed")
        new = dict(content.trials[0], item_id="w", trial_key="a-w")
        new_log = dict(content.logs[0], item_id="w", trial_key="a-w")
        run = dict(content.run, status="interrupted")
        bigger = dataclasses.replace(
            content, run=run, trials=[changed, new], logs=[*content.logs, new_log]
        )
        assert out.merge_content([bigger], cache) == {run_id: 1}
        merged = out.run_content(run_id)
        assert len(merged.trials) == 5 and len(merged.logs) == len(content.logs) + 1
        assert merged.trials[0]["status"] == content.trials[0]["status"]
        assert merged.run["status"] == "interrupted" and len(out.call_cache_entries()) == 1


# -- issue 17, point 6: shared rate limits ------------------------------------------------


def test_rate_permits_come_from_a_token_bucket_refilled_with_time(store: ResultStore) -> None:
    take = store.take_rate_permits
    # a new bucket starts full; what is left is kept, and nothing more is given
    assert take("requests u m", 3, rate=2.0, capacity=4.0, now=100.0).granted == 3
    left = take("requests u m", 3, rate=2.0, capacity=4.0, now=100.0)
    assert (left.granted, left.wait_s) == (1, 0.5)  # empty: one permit back in 1 / rate s
    assert take("requests u m", 1, rate=2.0, capacity=4.0, now=100.25).granted == 0
    # refilled at `rate` per second, never above the capacity
    assert take("requests u m", 9, rate=2.0, capacity=4.0, now=101.0).granted == 2
    assert take("requests u m", 9, rate=2.0, capacity=4.0, now=200.0).granted == 4
    # a clock that went back refills nothing; another bucket is apart
    assert take("requests u m", 1, rate=2.0, capacity=4.0, now=150.0).granted == 0
    assert take("requests u other", 1, rate=2.0, capacity=4.0, now=150.0).granted == 1
    # without `now`, the store's clock
    assert take("requests fresh", 2, rate=1.0, capacity=2.0).granted == 2


_TAKER = """
import sys
from pytest_crucible.store import open_store
store = open_store(sys.argv[1])
granted = sum(
    store.take_rate_permits("requests contended", 1, rate=1e-6, capacity=60.0).granted
    for _ in range(40)
)
print(granted)
"""


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_rate_permits_hold_when_processes_take_them_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Four processes take 160 permits from a bucket of 60 that hardly refills: exactly 60
    are granted (a lost update would grant more), and none fails on a busy store."""
    import subprocess
    import sys

    location = BACKENDS[backend][1](tmp_path, request)  # with its password, not masked
    takers = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKER, location],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [taker.communicate(timeout=120) for taker in takers]
    assert [taker.returncode for taker in takers] == [0] * 4, outputs
    assert sum(int(out) for out, _ in outputs) == 60


# -- joined runs (issue 17, point 3) ----------------------------------------------------------


def test_a_joined_run_is_created_once_and_its_trials_claimed_by_one_holder_each(
    store: ResultStore,
) -> None:
    keys = ["a-x", "a-y", "b-x", "b-y"]
    header = {**HEADER, "total_trials": 4}
    assert store.join_run("j1", "KEY", header, {}, keys) is None  # created
    again = store.join_run("j1", "KEY", {**header, "fingerprint": "other"}, {}, keys)
    assert again is not None and again["fingerprint"] == HEADER["fingerprint"]  # joined
    assert store.first_claim_holder("j1") is None  # nobody claimed the first trial yet
    assert store.first_claim_holder("no-such-run") is None
    first = store.claim_trials("j1", ["a-x", "a-y"], "p1", 60.0)
    assert first.claimed == ["a-x", "a-y"] and first.held == {}
    assert store.first_claim_holder("j1") == "p1"  # a-x: first in plan order
    second = store.claim_trials("j1", ["a-y", "b-x", "zz"], "p2", 60.0)  # zz: no such trial
    assert second.claimed == ["b-x"] and second.held == {"a-y": "p1"}
    assert store.renew_claims("p1", 60.0) == 2
    store.record_trials([("j1", _record("a", "x"), "main")])  # a-x is stored: never claimed
    assert store.renew_claims("p1", 60.0) == 1
    assert store.claim_trials("j1", ["a-x"], "p2", 60.0).claimed == []
    store.release_claims("j1", ["a-x", "a-y", "b-x"], "p1")  # a-y back to anyone at once
    assert store.claim_trials("j1", ["a-y"], "p2", 60.0).claimed == ["a-y"]
    assert store.claim_trials("j1", ["b-y"], "p3", -1.0).claimed == ["b-y"]  # expired at once
    assert store.claim_trials("j1", ["b-y"], "p2", 60.0).claimed == ["b-y"]  # taken over
    assert store.finish_joined_run("j1", "p2") is None  # trials left
    store.record_trials([("j1", _record(c, i), "main") for c, i in ("ay", "bx")])
    assert store.finish_joined_run("j1", "p2") is None  # b-y is not stored yet
    store.record_trials([("j1", _record("b", "y", "failed"), "main")])  # failed: stored too
    assert store.finish_joined_run("j1", "p2") == "p2"  # this call finished it
    assert store.finish_joined_run("j1", "p3") == "p2"  # later callers learn who did
    info = store.run("j1")
    assert info is not None and info.status == "completed" and info.ended_at
    assert store.trials_by_holder("j1") == {"p1": 1, "p2": 3}


def test_joining_a_cancelled_run_continues_it(store: ResultStore) -> None:
    header = {**HEADER, "total_trials": 2}
    store.join_run("j3", "KEY", header, {}, ["a-x", "a-y"])
    assert store.request_cancel("j3", "stop") is True
    store.finish_run("j3", "cancelled")
    store.join_run("j3", "KEY", header, {}, ["a-x", "a-y"])  # a process joins again
    info = store.run("j3")
    assert info is not None and (info.status, info.ended_at) == ("running", None)
    assert store.cancel_request("j3") is None
    store.finish_run("j3", "completed")
    store.join_run("j3", "KEY", header, {}, ["a-x", "a-y"])  # only a cancelled run goes on
    assert store.run_progress("j3").status == "completed"


def test_a_runs_header_keeps_its_metrics_and_conditions_in_declared_order(
    store: ResultStore,
) -> None:
    """The analysis lists metrics and conditions in the header's order (PostgreSQL's JSONB
    would sort keys shortest first: 'length' before 'correct')."""
    metrics = {"correct": {"kind": "binary"}, "length": {}, "a": {}}
    run_id = store.create_run({**HEADER, "metrics": metrics}, {})
    assert list(store.run_header(run_id)["metrics"]) == ["correct", "length", "a"]
    assert list(store.run_record(run_id).header["metrics"]) == ["correct", "length", "a"]
    joined = {**HEADER, "metrics": metrics}
    store.join_run("j2", "KEY", joined, {}, ["k"])
    assert list(store.run_header("j2")["metrics"]) == ["correct", "length", "a"]


# -- watching and steering runs (issue 18) ----------------------------------------------------


def test_a_cancel_request_is_stored_for_a_running_run_and_cleared_by_resuming(
    store: ResultStore,
) -> None:
    run_id = store.create_run(HEADER, {})
    assert store.cancel_request(run_id) is None
    assert store.request_cancel(run_id, "cancelled by ada") is True
    assert store.request_cancel(run_id, "cancelled again") is True  # still pending: first kept
    assert store.cancel_request(run_id) == "cancelled by ada"
    assert store.run_progress(run_id).cancel_requested == "cancelled by ada"
    store.finish_run(run_id, "cancelled")
    assert store.request_cancel(run_id, "too late") is False  # not running
    assert store.request_cancel("nope", "unknown") is False and store.cancel_request("nope") is None
    store.resume_run(run_id, HEADER)
    assert store.cancel_request(run_id) is None
    info = store.run(run_id)
    assert info is not None and info.status == "running"


def test_a_runs_progress_counts_its_trials_by_condition_and_status(store: ResultStore) -> None:
    run_id = _run_with_trials(store)
    store.record_trials([(run_id, _record("b", "y", "skipped", ended_at=5.0), "gw1")])
    progress = store.run_progress(run_id)
    assert (progress.run_id, progress.status, progress.total_trials) == (run_id, "running", 4)
    assert progress.stored == 4 and progress.cancel_requested is None
    assert [dataclasses.astuple(c) for c in progress.by_condition] == [
        ("a", 1, 1, 0),
        ("b", 1, 0, 1),
    ]
    assert progress.last_stored_at is not None and progress.last_stored_at.startswith("1970")
    empty = store.run_progress(store.create_run(HEADER, {}))
    assert (empty.stored, empty.by_condition, empty.last_stored_at) == (0, [], None)
    with pytest.raises(StoreError, match="no run 'nope'"):
        store.run_progress("nope")


def test_a_runs_trials_are_paged_filtered_and_read_one_by_one(store: ResultStore) -> None:
    run_id = _run_with_trials(store)
    other = store.create_run(HEADER, {})  # another run's trials never show
    store.record_trials([(other, _record("a", "z"), "main")])
    page = store.trial_page(run_id, limit=2)
    assert page.total == 3
    assert [(r["condition"], r["item_id"]) for r in page.rows] == [("a", "x"), ("a", "y")]
    assert page.rows[0]["metrics"] == {"correct": True} and "output" not in page.rows[0]
    assert page.rows == store.trial_table(run_id)[:2]  # the same row shape
    rest = store.trial_page(run_id, offset=2, limit=2)
    assert rest.total == 3 and [r["trial_key"] for r in rest.rows] == ["b-x"]
    failed = store.trial_page(run_id, status="failed")
    assert (failed.total, [r["trial_key"] for r in failed.rows]) == (1, ["a-y"])
    by_item = store.trial_page(run_id, item="x", condition="b")
    assert (by_item.total, [r["trial_key"] for r in by_item.rows]) == (1, ["b-x"])
    assert store.trial_page(run_id, condition="nope") == TrialPage(0, [])
    detail = store.trial_detail(run_id, "a-y")
    assert detail is not None and detail["status"] == "failed" and detail["worker"] == "gw1"
    assert detail["output"] == "out-y" and detail["metrics"] == {}
    assert detail["item"] == {"input": "in-y", "expected": "E", "metadata": {}, "cluster": None}
    [line] = detail["logs"]
    assert (line["level"], line["message"], line["trial_key"]) == ("info", "log y", "a-y")
    assert store.trial_detail(run_id, "nope") is None


def test_log_lines_are_read_after_an_id_with_filters(store: ResultStore) -> None:
    run_id = store.create_run(HEADER, {})
    logs = [
        {"level": "info", "message": "one", "meta": {}, "at": 0.0},
        {"level": "WARNING", "message": "two", "meta": {}, "at": 0.5},
    ]
    store.record_trials(
        [(run_id, _record(c, i, logs=logs), "main") for c, i in (("a", "x"), ("b", "y"))]
    )
    lines = store.log_page(run_id)
    assert [(line.trial_key, line.message) for line in lines] == [
        ("a-x", "one"),
        ("a-x", "two"),
        ("b-y", "one"),
        ("b-y", "two"),
    ]
    assert [line.id for line in lines] == sorted(line.id for line in lines)
    assert lines[0].condition == "a" and lines[0].item_id == "x" and lines[0].repeat == 0
    later = store.log_page(run_id, after_id=lines[1].id, limit=1)
    assert [(line.trial_key, line.message) for line in later] == [("b-y", "one")]
    warnings = store.log_page(run_id, level="warning")
    assert [line.trial_key for line in warnings] == ["a-x", "b-y"]
    assert [line.message for line in store.log_page(run_id, condition="b", item="y")] == [
        "one",
        "two",
    ]
    assert store.log_page(run_id, item="nope") == []


def test_instances_are_saved_replaced_listed_and_deleted(store: ResultStore) -> None:
    first = Instance(
        name="small",
        experiment="caps",
        source="tests/test_caps.py",
        config={"model": "m1", "temperature": 0.5},
        conditions=["a"],
        repeats=2,
        seed=7,
        description="a quick look",
        created_at="2026-01-01T00:00:00.000+00:00",
        updated_at="2026-01-01T00:00:00.000+00:00",
    )
    every = dataclasses.replace(
        first, name="all", conditions=None, repeats=None, seed=None, config={}
    )
    other = dataclasses.replace(first, name="other", experiment="qa")
    for instance in (first, every, other):
        store.save_instance(instance)
    assert store.instance("small") == first and store.instance("nope") is None
    assert [i.name for i in store.instances()] == ["all", "other", "small"]
    assert store.instances("caps") == [every, first]
    edited = dataclasses.replace(
        first, config={"model": "m2"}, created_at="2027-01-01", updated_at="2027-01-02"
    )
    store.save_instance(edited)
    assert store.instance("small") == dataclasses.replace(edited, created_at=first.created_at)
    assert store.delete_instance("small") is True and store.delete_instance("small") is False
    assert [i.name for i in store.instances()] == ["all", "other"]
