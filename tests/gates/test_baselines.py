"""Baselines: saved to the store and to a portable file, found again by name, run id or path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gate_helpers import frame, header, record_frame

from e2e_support import sql
from pytest_crucible.review.gates import (
    Baseline,
    GateError,
    baseline_path,
    known_baselines,
    load_baseline,
    save_baseline,
)
from pytest_crucible.store.frames import trials_frame
from pytest_crucible.store.sqlite import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / ".crucible" / "crucible.db")
    yield opened
    opened.close()


def two_runs(store: Store, name: str = "caps") -> tuple[str, str]:
    rng = np.random.default_rng(5)
    accuracy = {"terse": np.full(6, 0.5), "few_shot": np.full(6, 0.8)}
    latency = {c: np.full(6, 1.0) for c in accuracy}
    first = record_frame(store, header(name=name, items=6), frame(rng, accuracy, latency=latency))
    second = record_frame(store, header(name=name, items=6), frame(rng, accuracy, latency=latency))
    return first, second


def test_save_writes_the_store_row_and_a_reviewable_file(store: Store, tmp_path: Path) -> None:
    run_id, _ = two_runs(store)
    folder = tmp_path / "baselines"
    saved = save_baseline(store, run_id, "main", baselines_dir=folder)
    assert saved.path == folder / "main.json" == baseline_path("main", folder)
    assert (saved.name, saved.run_id, saved.experiment) == ("main", run_id, "caps")
    assert saved.fingerprint == "f" * 16 and saved.dataset_fingerprint == "d" * 16
    assert saved.environment["git"] == {"commit": "abc123", "dirty": False}
    assert set(saved.trial_digests) == {"terse", "few_shot"}
    text = saved.path.read_text()
    data = json.loads(text)
    assert data["format"] == "pytest-crucible-baselines" and data["name"] == "main"
    document = data["experiments"]["caps"]
    assert document["header"]["config"] == {"temperature": 0.7}
    assert len(document["results"]) == 12  # 2 conditions x 6 items
    first = document["results"][0]
    assert set(first) == {"condition", "item_id", "cluster", "repeats", "status", "values"}
    assert first["values"]["correct"][0] in (0, 1)  # 0/1 stay integers
    result_lines = [line for line in text.splitlines() if line.strip().startswith('{"condition"')]
    assert len(result_lines) == 12  # one line per condition x item: diffs show what moved
    stored = sql(store.path, "SELECT name, experiment, run_id FROM baselines")
    assert [tuple(r) for r in stored] == [("main", "caps", run_id)]


def test_the_baseline_holds_the_runs_per_item_results(store: Store, tmp_path: Path) -> None:
    run_id, _ = two_runs(store)
    saved = save_baseline(store, run_id, "main", baselines_dir=tmp_path)
    original = trials_frame(store, run_id)
    again = saved.trials()
    columns = ["condition", "item_id", "repeat", "status", "correct", "latency"]
    pd.testing.assert_frame_equal(
        again[columns].sort_values(columns[:3]).reset_index(drop=True),
        original[columns].sort_values(columns[:3]).reset_index(drop=True),
        check_dtype=False,
    )
    restored = Baseline.from_dict(json.loads(json.dumps(saved.to_dict())))
    assert restored.results == saved.results and restored.header == saved.header


def test_load_by_name_run_id_and_path(store: Store, tmp_path: Path) -> None:
    first, second = two_runs(store)
    folder = tmp_path / "baselines"
    saved = save_baseline(store, first, "main", baselines_dir=folder)
    by_name = load_baseline(store, "main", baselines_dir=folder)
    assert by_name.run_id == first and by_name.path == saved.path
    by_path = load_baseline(None, str(saved.path))  # no store needed
    assert by_path.run_id == first and by_path.results == saved.results
    by_run = load_baseline(store, second, baselines_dir=folder)
    assert (by_run.name, by_run.run_id, by_run.path) == (second, second, None)
    saved.path.unlink()  # the store row alone still serves the name
    assert load_baseline(store, "main", baselines_dir=folder).run_id == first


def test_the_committed_file_wins_over_the_stores_row(store: Store, tmp_path: Path) -> None:
    first, second = two_runs(store)
    folder = tmp_path / "baselines"
    save_baseline(store, first, "main", baselines_dir=folder)
    (tmp_path / "kept.json").write_text((folder / "main.json").read_text())
    save_baseline(store, second, "main", baselines_dir=folder)  # replaces row and file
    assert [r.run_id for r in known_baselines(store, folder) if r.source == "store"] == [second]
    (folder / "main.json").write_text((tmp_path / "kept.json").read_text())  # git checkout
    loaded = load_baseline(store, "main", baselines_dir=folder)
    assert loaded.run_id == first
    assert any(f"the store's baseline 'main' is run {second}" in n for n in loaded.notes)


def test_one_name_serves_several_experiments(store: Store, tmp_path: Path) -> None:
    caps, _ = two_runs(store, "caps")
    math, _ = two_runs(store, "math")
    save_baseline(store, caps, "main", baselines_dir=tmp_path)
    save_baseline(store, math, "main", baselines_dir=tmp_path)
    data = json.loads((tmp_path / "main.json").read_text())
    assert sorted(data["experiments"]) == ["caps", "math"]
    assert load_baseline(store, "main", experiment="math", baselines_dir=tmp_path).run_id == math
    with pytest.raises(GateError, match="holds 'caps', 'math'; say which experiment"):
        load_baseline(store, "main", baselines_dir=tmp_path)
    with pytest.raises(GateError, match="not experiment 'other'"):
        load_baseline(store, "main", experiment="other", baselines_dir=tmp_path)
    (tmp_path / "main.json").unlink()
    with pytest.raises(GateError, match=r"exists for several experiments \(caps, math\)"):
        load_baseline(store, "main", baselines_dir=tmp_path)


def test_unknown_references_list_what_exists(store: Store, tmp_path: Path) -> None:
    first, _ = two_runs(store)
    save_baseline(store, first, "main", baselines_dir=tmp_path)
    with pytest.raises(GateError) as raised:
        load_baseline(store, "mian", baselines_dir=tmp_path)
    message = str(raised.value)
    assert "no baseline 'mian'" in message and f"main (caps, run {first}, store)" in message
    assert f"main (caps, run {first}, {tmp_path / 'main.json'})" in message
    assert "recent runs: " in message and "--crucible-save-baseline NAME" in message
    with pytest.raises(GateError, match=r"baseline file tests/old.json does not exist"):
        load_baseline(store, "tests/old.json", baselines_dir=tmp_path)
    with pytest.raises(GateError, match="no baseline given"):
        load_baseline(store, " ", baselines_dir=tmp_path)


def test_bad_files_and_names_are_refused(store: Store, tmp_path: Path) -> None:
    first, _ = two_runs(store)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(GateError, match=r"is not valid JSON .*restore it from git"):
        load_baseline(store, str(broken))
    stranger = tmp_path / "package.json"
    stranger.write_text('{"name": "x"}')
    with pytest.raises(GateError, match="is not a pytest-crucible baseline file"):
        load_baseline(store, str(stranger))
    with pytest.raises(GateError, match="is not a pytest-crucible baseline file"):
        save_baseline(store, first, "x", path=stranger)  # never clobbers a foreign file
    assert stranger.read_text() == '{"name": "x"}'
    newer = tmp_path / "newer.json"
    newer.write_text('{"format": "pytest-crucible-baselines", "version": 99, "experiments": {}}')
    with pytest.raises(GateError, match=r"format version 99.*upgrade"):
        load_baseline(store, str(newer))
    with pytest.raises(GateError, match="names become file names"):
        save_baseline(store, first, "../main", baselines_dir=tmp_path)
    with pytest.raises(GateError, match="no run 'nope'; runs: "):
        save_baseline(store, "nope", "main", baselines_dir=tmp_path)


def test_a_run_without_passed_trials_cannot_be_a_baseline(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    trials = frame(rng, {"terse": np.full(2, 0.5)}).assign(status="failed")
    run_id = record_frame(store, header(conditions=("terse",)), trials)
    with pytest.raises(GateError, match="has no passed trials"):
        save_baseline(store, run_id, "main", baselines_dir=tmp_path)


def test_an_older_store_without_the_table_gets_it(store: Store, tmp_path: Path) -> None:
    first, _ = two_runs(store)
    sql(store.path, "DROP TABLE baselines")
    assert known_baselines(store, tmp_path / "none") == []
    with pytest.raises(GateError, match="no baseline 'main'"):
        load_baseline(store, "main", baselines_dir=tmp_path / "none")
    saved = save_baseline(store, first, "main", baselines_dir=tmp_path)
    assert load_baseline(store, "main", baselines_dir=tmp_path / "none").run_id == saved.run_id


def test_an_interrupted_run_is_saved_with_a_note(store: Store, tmp_path: Path) -> None:
    first, _ = two_runs(store)
    store.finish_run(first, "interrupted")
    saved = save_baseline(store, first, "main", baselines_dir=tmp_path)
    assert saved.run_status == "interrupted"
    assert saved.notes == (f"run {first} was 'interrupted' when saved (36 of 36 trials passed)",)


def test_store_to_verdicts_end_to_end(tmp_path: Path) -> None:
    """What the pytest wiring does: save on one run, compare a later run in a new session."""
    from pytest_crucible.declare.metrics import Metric
    from pytest_crucible.review.analysis import analyze
    from pytest_crucible.review.gates import compare_to_baseline, evaluate_gates

    path = tmp_path / ".crucible" / "crucible.db"
    folder = tmp_path / ".crucible" / "baselines"
    rng = np.random.default_rng(12)
    accuracy = {"terse": np.full(60, 0.5), "few_shot": np.full(60, 0.9)}
    latency = {c: np.full(60, 1.0) for c in accuracy}
    writer = Store(path)
    first = record_frame(writer, header(items=60), frame(rng, accuracy, latency=latency))
    save_baseline(writer, first, "main", baselines_dir=folder)
    worse = {**accuracy, "few_shot": np.full(60, 0.6)}
    second = record_frame(writer, header(items=60), frame(rng, worse, latency=latency))
    writer.close()
    reader = Store(path, readonly=True)  # a later session, reading only
    baseline = load_baseline(reader, "main", experiment="caps", baselines_dir=folder)
    trials, run_header = trials_frame(reader, second), reader.run_header(second)
    comparison = compare_to_baseline(trials, run_header, baseline, margins={"correct": 0.05})
    assert comparison.verdict("few_shot", "correct").verdict == "regression"
    assert comparison.verdict("terse", "correct").verdict in ("noninferior", "inconclusive")
    analysis = analyze(
        trials,
        conditions=run_header["conditions"],
        baseline="terse",
        metrics={"correct": Metric(kind="binary"), "latency": Metric(lower_is_better=True)},
    )
    results = evaluate_gates(
        ["few_shot.correct.ci_low >= 0.8", "few_shot.cost_usd.total <= 10"],
        trials,
        analysis.to_dict(),
        header=run_header,
        baseline=baseline,
    )
    assert [r.status for r in results] == ["FAIL", "PASS"]
    assert results[1].observed == pytest.approx(0.01 * 180)
    reader.close()
