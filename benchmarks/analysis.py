"""Session-end analysis at scale, as a user waits for it: 100,000 stored trials (10
conditions x 10,000 items), 3 metrics, all 45 pairs of conditions compared on each metric
(135 paired comparisons, Holm-adjusted), plus an omnibus test per metric. Timed from the
open store: loading the run's trials into pandas, analysing, saving the analysis, the text
table and the JSON. The target is under 5 s on this machine.

Run: .venv/bin/python benchmarks/analysis.py [--items N]
(the test suite runs it with --items 30, so that it cannot rot)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pytest_crucible.review.analyse_run import analyse_run
from pytest_crucible.review.analysis import format_analysis
from pytest_crucible.review.stored_run import load_stored_run
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.sqlite import Store

CONDITIONS = [f"prompt_{i}" for i in range(10)]
TARGET_S = 5.0
METRICS: dict[str, dict[str, Any]] = {
    "correct": {"kind": "binary"},
    "score": {},
    "latency_s": {"lower_is_better": True, "unit": "s"},
}


def build(path: Path, items: int, seed: int = 0) -> tuple[Store, str]:
    """A stored run of one trial per condition x item: a 0/1 outcome, a score and a latency
    (setup, not measured)."""
    header = {
        "name": "analysis-at-scale",
        "fingerprint": "f" * 16,
        "dataset_fingerprint": "d" * 16,
        "config": {},
        "seed": seed,
        "repeat": 1,
        "conditions": CONDITIONS,
        "baseline": None,
        "metrics": METRICS,
        "total_trials": items * len(CONDITIONS),
        "items": items,
    }
    store = Store(path)
    run_id = store.create_run(header, {"python": "3.11"})
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1.5, size=items)
    batch = []
    for index, condition in enumerate(CONDITIONS):
        p = 1 / (1 + np.exp(-(difficulty + 0.02 * index)))
        failed = rng.random(items) < 0.002
        correct = rng.random(items) < p
        score = p + rng.normal(0, 0.1, size=items)
        latency = rng.lognormal(0.01 * index, 0.4, size=items)
        for i in range(items):
            metrics = {
                "correct": bool(correct[i]),
                "score": float(score[i]),
                "latency_s": float(latency[i]),
            }
            result = {
                "experiment": "bench",
                "key": f"{condition}/item-{i}/0",
                "condition": condition,
                "item_id": f"item-{i}",
                "repeat": 0,
                "cluster": None,
                "status": "failed" if failed[i] else "passed",
                "metrics": {} if failed[i] else metrics,
                "latency_s": float(latency[i]),
            }
            batch.append((run_id, TrialRecord.from_json(result), "main"))
    store.record_trials(batch)
    store.finish_run(run_id, "completed")
    return store, run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store, run_id = build(Path(tmp) / "crucible.db", args.items)
        start = time.perf_counter()
        run = load_stored_run(store, run_id)
        loaded = time.perf_counter() - start
        result = analyse_run(store, run_id, run)
        analysed = time.perf_counter() - start
        text = format_analysis(result)
        json.dumps(result.to_dict(), allow_nan=False)
        total = time.perf_counter() - start
        store.close()
    comparisons = sum(len(m.comparisons) for m in result.metrics)
    print(text.splitlines()[0])
    print(
        f"{len(run.trials):,} trials, {len(METRICS)} metrics, {comparisons} comparisons: "
        f"load from the store {loaded:.2f} s, with the analysis {analysed:.2f} s, "
        f"with table and JSON {total:.2f} s "
        f"(target < {TARGET_S:g} s: {'met' if total < TARGET_S else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
