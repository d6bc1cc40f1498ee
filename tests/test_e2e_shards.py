"""Static shards and `crucible merge` (issue 17, points 3 and 4), end to end: real pytest
processes, real SQLite stores, the installed `crucible` command.

One experiment is run whole in one process, and as three shards (one of them again under
`-n 2`) into stores of their own, once for the module; the tests read those stores (and
copies of them: a store a test changes is its own copy)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from e2e_support import EXPERIMENT, sql
from postgres_server import ROLE_PASSWORD
from pytest_crucible.store import open_store

CRUCIBLE = Path(sys.executable).parent / "crucible"
_TIMEOUT = 300  # seconds for one pytest or crucible process: generous, the machine is shared
SHARDS = 3
# the demo experiment (12 trials, a declared seed) with an artifact per trial and a gate that
# fails on the whole run (shout is right on one item of three)
GATED = EXPERIMENT.replace(
    "    seed=7,\n", "    seed=7,\n    gates=['shout.correct.mean >= 0.9'],\n"
).replace(
    '    trial.log("info", "answered", answer=answer)\n',
    '    trial.log("info", "answered", answer=answer)\n    trial.artifact("answer.txt", answer)\n',
)


@dataclass(frozen=True)
class Runs:
    folder: Path
    whole: subprocess.CompletedProcess[str]
    shards: list[subprocess.CompletedProcess[str]]
    calls: list[list[str]]  # the condition calls of each shard run

    def store(self, name: str) -> Path:
        return self.folder / name


def run_pytest(
    folder: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("CRUCIBLE_", "PYTEST_"))
    }
    environment.pop("GITHUB_RUN_ID", None)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--crucible"]
    return subprocess.run(
        [*command, "--crucible-report=none", *args],
        cwd=folder,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )


def crucible(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CRUCIBLE_STORE"}
    return subprocess.run(
        [str(CRUCIBLE), *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("shards")
    (folder / "test_demo.py").write_text(GATED)
    # one calls file for every run (its name is part of the conditions' code identity)
    log = folder / "calls.log"
    whole = run_pytest(folder, "--crucible-store=whole.db", "--crucible-save-baseline=main")
    shards, calls = [], []
    for index in range(1, SHARDS + 1):
        log.unlink(missing_ok=True)
        shards.append(
            run_pytest(
                folder,
                f"--crucible-shard={index}/{SHARDS}",
                f"--crucible-store=shard{index}.db",
                env={"GITHUB_RUN_ID": "4242"},
            )
        )
        calls.append(log.read_text().splitlines() if log.exists() else [])
    return Runs(folder, whole, shards, calls)


def rows(store: Path, query: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(row) for row in sql(store, query, args)]


def keys(store: Path) -> set[str]:
    return {row["trial_key"] for row in rows(store, "SELECT trial_key FROM trials")}


def test_shards_are_disjoint_cover_every_trial_and_defer_their_gates(runs: Runs) -> None:
    # the whole run's gate fails: exit 1
    assert runs.whole.returncode == 1, runs.whole.stdout[-3000:]
    everything = keys(runs.store("whole.db"))
    assert len(everything) == 12
    shard_keys = [keys(runs.store(f"shard{i}.db")) for i in range(1, SHARDS + 1)]
    assert set().union(*shard_keys) == everything
    assert sum(len(k) for k in shard_keys) == len(everything)  # pairwise disjoint
    assert sum(len(c) for c in runs.calls) == 12  # each trial executed once, in one shard
    for index, (done, found) in enumerate(zip(runs.shards, shard_keys, strict=True), start=1):
        # a shard does not judge the whole experiment: no false gate failure
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        assert f"is shard {index}/{SHARDS} of group 'GITHUB_RUN_ID=4242'" in done.stdout
        assert "its analysis covers this shard only" in done.stdout
        assert "crucible merge" in done.stdout
        assert f"{len(found)} passed, {12 - len(found)} deselected" in done.stdout
        (run,) = rows(runs.store(f"shard{index}.db"), "SELECT header, total_trials FROM runs")
        header = json.loads(run["header"])
        assert header["shard"] == {
            "index": index,
            "count": SHARDS,
            "group": "GITHUB_RUN_ID=4242",
            "trials": 12,
        }
        assert run["total_trials"] == len(found)


def test_a_shard_under_xdist_runs_the_same_trials(runs: Runs) -> None:
    done = run_pytest(
        runs.folder,
        f"--crucible-shard=1/{SHARDS}",
        "--crucible-store=shard1-n2.db",
        "-n",
        "2",
        env={"GITHUB_RUN_ID": "4242"},
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert keys(runs.store("shard1-n2.db")) == keys(runs.store("shard1.db"))


def analysis_numbers(store: Path, run_id: str) -> dict[str, Any]:
    (run,) = rows(store, "SELECT analysis FROM runs WHERE run_id = ?", (run_id,))
    return dict(json.loads(run["analysis"]))


def run_ids(store: Path) -> list[str]:
    return [row["run_id"] for row in rows(store, "SELECT run_id FROM runs")]


def test_merged_shards_are_one_run_analysed_as_the_run_in_one_process(
    runs: Runs, tmp_path: Path
) -> None:
    inputs = [runs.store(f"shard{i}.db") for i in range(1, SHARDS + 1)]
    merged = crucible("merge", tmp_path / "merged.db", *inputs, cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    (run_id,) = run_ids(tmp_path / "merged.db")
    assert f"run {run_id} of demo: 12 trial(s) added, 12 of 12 stored (completed)" in merged.stdout
    assert "shards 1/3, 2/3, 3/3 of group 'GITHUB_RUN_ID=4242'" in merged.stdout
    assert keys(tmp_path / "merged.db") == keys(runs.store("whole.db"))
    analysed = crucible("--store", tmp_path / "merged.db", "analyse", run_id, cwd=tmp_path)
    # the gate is decided on the whole run now, and fails as it did in one process
    assert analysed.returncode == 1, analysed.stdout + analysed.stderr
    (whole_id,) = run_ids(runs.store("whole.db"))
    whole = analysis_numbers(runs.store("whole.db"), whole_id)
    assert analysis_numbers(tmp_path / "merged.db", run_id) == whole
    # every shard's logs and artifacts are there
    logs = rows(tmp_path / "merged.db", "SELECT trial_key FROM logs")
    assert sorted(row["trial_key"] for row in logs) == sorted(keys(runs.store("whole.db")))
    artifacts = rows(tmp_path / "merged.db", "SELECT artifacts FROM trials")
    assert all("answer.txt" in row["artifacts"] for row in artifacts)


def test_shards_merged_into_postgresql_are_analysed_as_the_run_in_one_process(
    runs: Runs, tmp_path: Path, postgres_url: str
) -> None:
    """`crucible merge URL shard1.db ...` into a PostgreSQL database (a real server), then
    `crucible --store URL analyse`: the same run and analysis as the one-process run."""
    inputs = [runs.store(f"shard{i}.db") for i in range(1, SHARDS + 1)]
    merged = crucible("merge", postgres_url, *inputs, cwd=tmp_path)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    with closing(open_store(postgres_url, readonly=True)) as store:
        (run_id,) = [run.run_id for run in store.runs()]
        stored = store.stored_trials(run_id)
    assert f"run {run_id} of demo: 12 trial(s) added, 12 of 12 stored (completed)" in merged.stdout
    whole = runs.store("whole.db")
    assert {row["trial_key"] for row in stored} == keys(whole)
    assert all("answer.txt" in json.dumps(row["artifacts"]) for row in stored)
    analysed = crucible("--store", postgres_url, "analyse", run_id, cwd=tmp_path)
    assert analysed.returncode == 1, analysed.stdout + analysed.stderr  # the gate fails
    with closing(open_store(postgres_url, readonly=True)) as store:
        analysis = store.run_record(run_id).analysis
        logged = store.logs(run_id)
    (whole_id,) = run_ids(whole)
    assert analysis == analysis_numbers(whole, whole_id)
    assert sorted(logged) == sorted(keys(whole))  # every shard's logs are there
    for done in (merged, analysed):
        assert ROLE_PASSWORD not in done.stdout + done.stderr


def table_dump(store: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (logs without their row id), sorted."""
    conn = sqlite3.connect(store)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        dump = {}
        for name in names:
            found = conn.execute(f"SELECT * FROM {name}")
            columns = [c[0] for c in found.description]
            dump[name] = sorted(
                (tuple(v for c, v in zip(columns, row, strict=True) if c != "id") for row in found),
                key=repr,
            )
        return dump
    finally:
        conn.close()


def test_a_merge_copies_everything_and_merging_again_changes_nothing(
    runs: Runs, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(runs.store("whole.db"), copy)
    # a call cache entry (a real run writes them when conditions call models)
    sql(
        copy,
        "INSERT INTO model_calls VALUES ('k1', 'openai', 'gpt', '{}', '{\"text\": \"hi\"}', "
        "NULL, NULL, '2026-01-01T00:00:00')",
    )
    out = tmp_path / "out.db"
    # the same store twice: identical duplicates are fine
    first = crucible("merge", out, copy, runs.store("whole.db"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = table_dump(out)
    source = table_dump(copy)
    for table in ("runs", "items", "trials", "logs", "run_sessions", "model_calls", "baselines"):
        assert before[table] == source[table], table
    again = crucible("merge", out, copy, runs.store("whole.db"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 trial(s) added" in again.stdout
    assert table_dump(out) == before
    # shards merged twice, and merged into a store that already holds other runs
    shards = [runs.store(f"shard{i}.db") for i in range(1, SHARDS + 1)]
    assert crucible("merge", out, *shards[:2], cwd=tmp_path).returncode == 0
    assert crucible("merge", out, *shards, cwd=tmp_path).returncode == 0
    united = table_dump(out)
    assert crucible("merge", out, *shards, cwd=tmp_path).returncode == 0
    assert table_dump(out) == united
    assert len(run_ids(out)) == 2


def test_a_trial_with_different_results_in_two_stores_is_refused_and_nothing_written(
    runs: Runs, tmp_path: Path
) -> None:
    changed = tmp_path / "changed.db"
    shutil.copy(runs.store("whole.db"), changed)
    (trial,) = rows(
        changed, "SELECT * FROM trials WHERE condition = 'terse' AND item_id = 'a' AND repeat = 0"
    )
    sql(
        changed,
        'UPDATE trials SET metrics = \'{"correct": false, "length": 5}\' WHERE trial_key = ?',
        (trial["trial_key"],),
    )
    out = tmp_path / "out.db"
    shards = [runs.store(f"shard{i}.db") for i in range(1, SHARDS + 1)]
    assert crucible("merge", out, *shards, cwd=tmp_path).returncode == 0
    before = table_dump(out)
    whole = runs.store("whole.db")
    refused = crucible("merge", out, whole, changed, cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    message = refused.stderr
    (run_id,) = run_ids(whole)
    for said in (f"run {run_id}", trial["trial_key"], str(whole), str(changed), "terse-a-r0"):
        assert said in message, message
    assert "nothing was written" in message
    assert table_dump(out) == before
    # nor is a missing OUT created
    fresh = tmp_path / "fresh.db"
    assert crucible("merge", fresh, whole, changed, cwd=tmp_path).returncode == 2
    assert not fresh.exists()
    # an input that does not exist: one clear line
    missing = crucible("merge", out, tmp_path / "nope.db", cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "nope.db does not exist" in missing.stderr, missing.stderr


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0/2", "shard 0 of 2 does not exist"),
        ("3/2", "shard 3 of 2 does not exist"),
        ("a/b", "give I/N"),
        ("1/0", "shard 1 of 0 does not exist"),
    ],
)
def test_bad_shard_values_are_refused_with_what_to_give(
    tmp_path: Path, value: str, said: str
) -> None:
    (tmp_path / "test_demo.py").write_text(EXPERIMENT)
    for args, env in (([f"--crucible-shard={value}"], {}), ([], {"CRUCIBLE_SHARD": value})):
        done = run_pytest(tmp_path, *args, env=env)
        assert done.returncode == 4, done.stdout + done.stderr
        assert said in done.stderr, done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / ".crucible" / "crucible.db").exists()


ONE_TRIAL = """
import pytest_crucible as crucible

one = crucible.Experiment(
    name="one", dataset=[{"id": "a", "input": 1}], conditions={"same": lambda x: x},
    metrics=["value"], seed=1,
)

@one.trial
def test_one(condition, item, trial):
    trial.record(value=condition(item.input))
"""


def test_a_shard_without_trials_ends_cleanly_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "test_one.py").write_text(ONE_TRIAL)
    done = [
        run_pytest(tmp_path, f"--crucible-shard={i}/2", "--crucible-store=one.db") for i in (1, 2)
    ]
    # one shard holds the trial; the other holds none: no "no tests ran" (5) failing its job
    assert [d.returncode for d in done] == [0, 0], [d.stdout[-2000:] for d in done]
    empty = [d for d in done if "1 passed" not in d.stdout]
    assert len(empty) == 1, [d.stdout[-2000:] for d in done]
    assert "holds none of the trials of one" in empty[0].stdout
    assert "1 deselected" in empty[0].stdout
    (run,) = rows(tmp_path / "one.db", "SELECT total_trials FROM runs")
    assert run["total_trials"] == 1
