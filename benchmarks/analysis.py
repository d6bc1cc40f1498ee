"""Session-end analysis at scale: 100,000 trials (10 conditions x 10,000 items), 3 metrics,
all 45 pairs of conditions compared on each metric (135 paired comparisons, Holm-adjusted),
plus an omnibus test per metric. The target is under 5 s on this machine.

Run: .venv/bin/python benchmarks/analysis.py
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from pytest_crucible.analysis import analyze, format_analysis
from pytest_crucible.metrics import Metric

CONDITIONS = [f"prompt_{i}" for i in range(10)]
ITEMS = 10_000
TARGET_S = 5.0


def trials(seed: int = 0) -> pd.DataFrame:
    """One trial per condition x item: a 0/1 outcome, a score and a latency."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 1.5, size=ITEMS)
    frames = []
    for index, condition in enumerate(CONDITIONS):
        skill = 0.02 * index
        p = 1 / (1 + np.exp(-(difficulty + skill)))
        frames.append(
            pd.DataFrame(
                {
                    "condition": condition,
                    "item_id": [f"item-{i}" for i in range(ITEMS)],
                    "repeat": 0,
                    "cluster": None,
                    "status": np.where(rng.random(ITEMS) < 0.002, "failed", "passed"),
                    "correct": (rng.random(ITEMS) < p).astype(float),
                    "score": p + rng.normal(0, 0.1, size=ITEMS),
                    "latency_s": rng.lognormal(0.0 + 0.01 * index, 0.4, size=ITEMS),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    frame = trials()
    metrics = {
        "correct": Metric(kind="binary"),
        "score": Metric(),
        "latency_s": Metric(lower_is_better=True, unit="s"),
    }
    start = time.perf_counter()
    result = analyze(frame, conditions=CONDITIONS, baseline=None, metrics=metrics)
    analysed = time.perf_counter() - start
    text = format_analysis(result)
    json.dumps(result.to_dict(), allow_nan=False)
    total = time.perf_counter() - start
    comparisons = sum(len(m.comparisons) for m in result.metrics)
    print(text.splitlines()[0])
    print(
        f"{len(frame):,} trials, {len(metrics)} metrics, {comparisons} comparisons: "
        f"analyze {analysed:.2f} s, with table and JSON {total:.2f} s "
        f"(target < {TARGET_S:g} s: {'met' if total < TARGET_S else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
