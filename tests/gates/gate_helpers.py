"""Builders for the gate tests: trials frames and run headers without pytest in between."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.sqlite import Store

CONDITIONS = ("terse", "few_shot")


def header(
    *,
    conditions: Sequence[str] = CONDITIONS,
    fingerprint: str = "f" * 16,
    dataset_fingerprint: str = "d" * 16,
    config: Mapping[str, Any] | None = None,
    name: str = "caps",
    repeat: int = 3,
    items: int = 0,
) -> dict[str, Any]:
    """A run header with a 0/1 metric `correct` and a lower-is-better `latency`."""
    return {
        "name": name,
        "description": "",
        "fingerprint": fingerprint,
        "dataset_fingerprint": dataset_fingerprint,
        "config": dict(config or {"temperature": 0.7}),
        "seed": 3,
        "repeat": repeat,
        "conditions": list(conditions),
        "baseline": conditions[0],
        "metrics": {
            "correct": {"kind": "binary", "lower_is_better": False},
            "latency": {"kind": "continuous", "lower_is_better": True},
        },
        "total_trials": len(conditions) * items * repeat,
        "items": items,
    }


def frame(
    rng: np.random.Generator,
    accuracy: Mapping[str, np.ndarray],
    *,
    repeats: int = 3,
    latency: Mapping[str, np.ndarray] | None = None,
    clusters: np.ndarray | None = None,
    item_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """A trials frame: per condition, item i passes each repeat with probability
    accuracy[c][i]; latency (if given) is normal around latency[c][i] with SD 0.2."""
    parts = []
    for condition, p in accuracy.items():
        n = p.size
        ids = np.asarray(item_ids if item_ids is not None else [f"q{i:03d}" for i in range(n)])
        correct = (rng.random((n, repeats)) < p[:, None]).astype(float)
        part = {
            "condition": np.full(n * repeats, condition, dtype=object),
            "item_id": np.repeat(ids, repeats),
            "repeat": np.tile(np.arange(repeats), n),
            "cluster": None if clusters is None else np.repeat(clusters, repeats),
            "status": np.full(n * repeats, "passed", dtype=object),
            "trial_key": [f"{condition}-{i}-{r}" for i in ids for r in range(repeats)],
            "correct": correct.ravel(),
        }
        if latency is not None:
            noise = rng.normal(0, 0.2, (n, repeats))
            part["latency"] = (latency[condition][:, None] + noise).ravel()
        parts.append(pd.DataFrame(part))
    result = pd.concat(parts, ignore_index=True)
    result.attrs["metrics"] = ["correct", *(["latency"] if latency is not None else [])]
    return result


def record_frame(store: Store, run_header: Mapping[str, Any], trials: pd.DataFrame) -> str:
    """Store a trials frame as a run (via Store.create_run / record_trial); return its id."""
    run_id = store.create_run(run_header, {"git": {"commit": "abc123", "dirty": False}})
    metrics = [m for m in ("correct", "latency") if m in trials.columns]
    for row in trials.to_dict("records"):
        values = {m: row[m] for m in metrics if row[m] == row[m]}
        if "correct" in values:
            values["correct"] = bool(values["correct"])
        store.record_trial(
            run_id,
            TrialRecord.from_json(
                {
                    "experiment": str(run_header["name"]),
                    "key": row.get("trial_key", f"{row['condition']}-{row['item_id']}"),
                    "condition": row["condition"],
                    "item_id": row["item_id"],
                    "repeat": int(row["repeat"]),
                    "cluster": row.get("cluster"),
                    "item": {"input": row["item_id"]},
                    "status": row.get("status", "passed"),
                    "metrics": values if row.get("status", "passed") == "passed" else {},
                    "usage": {"cost_usd": 0.01},
                }
            ),
            "main",
        )
    store.finish_run(run_id, "completed")
    return run_id
