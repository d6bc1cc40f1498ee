"""The run's data as files: results.csv, results.jsonl, results.parquet (when pyarrow is
installed), analysis.json, config.json, environment.json, dataset.jsonl, manifest.json and a
README.md that says how to reproduce the run.

CSV text cells that start with = + - @ (or a tab or CR) get a leading `'` so a spreadsheet
shows them as text instead of running them as formulas.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..store import Store
from ._data import RunData
from ._io import write_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_exports"]

_JSONL_SQL = """
SELECT condition, item_id, repeat, trial_key, cluster, status, metrics, output, error,
    attempts, calls, latency_s, input_tokens, output_tokens, cost_usd, artifacts, warnings,
    worker, started_at, ended_at
FROM trials WHERE run_id = ? ORDER BY condition, item_id, repeat
"""
_JSON_COLUMNS = frozenset({"metrics", "output", "error", "artifacts", "warnings"})


def write_exports(run: RunData, store: Store, out_dir: Path) -> list[Path]:
    """Write every export into out_dir; return their paths."""
    written = [
        _csv(run, out_dir / "results.csv"),
        _jsonl(run, store.query(_JSONL_SQL, (run.run_id,)), out_dir / "results.jsonl"),
    ]
    if importlib.util.find_spec("pyarrow") is not None:
        written.append(_parquet(run, out_dir / "results.parquet"))
    written += [
        _json(out_dir / "analysis.json", run.analysis),
        _json(out_dir / "config.json", run.config),
        _json(out_dir / "environment.json", run.environment),
        _dataset(run, out_dir / "dataset.jsonl"),
    ]
    return written


def _flat(run: RunData) -> pd.DataFrame:
    """The trials frame with output and error as text: a string output as it is, anything
    else as JSON (one value type per column)."""
    frame = run.trials.copy()
    for column in ("output", "error"):
        frame[column] = [
            v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for v in frame[column]
        ]
    return frame


def _csv(run: RunData, path: Path) -> Path:
    from ._safe import csv_cell

    frame = _flat(run)
    import pandas as pd

    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = [v if not isinstance(v, str) else csv_cell(v) for v in frame[column]]
    frame.columns = [csv_cell(str(c)) for c in frame.columns]
    return write_text(path, frame.to_csv(index=False, lineterminator="\n"))


def _jsonl(run: RunData, rows: list[Any], path: Path) -> Path:
    """One JSON object per trial, as stored: metrics keep their types (booleans stay
    booleans); JSON columns are copied as they are, not parsed and dumped again."""
    lines = []
    for row in rows:
        fields = [f'"run_id":{json.dumps(run.run_id)}']
        for name in row.keys():  # noqa: SIM118 - sqlite3.Row is not a mapping
            value = row[name]
            if name in _JSON_COLUMNS:
                text = value if value is not None else "null"
            else:
                text = json.dumps(value, ensure_ascii=False)
            fields.append(f'"{name}":{text}')
        lines.append("{" + ",".join(fields) + "}\n")
    return write_text(path, "".join(lines))


def _parquet(run: RunData, path: Path) -> Path:
    frame = _flat(run)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def _json(path: Path, value: Any) -> Path:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=repr)
    return write_text(path, text + "\n")


def _dataset(run: RunData, path: Path) -> Path:
    lines = [
        json.dumps({"item_id": item_id, **item}, ensure_ascii=False, default=repr) + "\n"
        for item_id, item in run.items.items()
    ]
    return write_text(path, "".join(lines))
