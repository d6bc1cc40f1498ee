"""The run's data as files: results.csv, results.jsonl, results.parquet (when pyarrow is
installed), analysis.json, config.json, environment.json, dataset.jsonl, manifest.json and a
README.md that says how to reproduce the run.

CSV text cells that start with = + - @ (or a tab or CR) get a leading `'` so a spreadsheet
shows them as text instead of running them as formulas.
"""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.review.reports._io import write_bytes, write_text
from pytest_crucible.review.reports._report_data import RunData
from pytest_crucible.store.interface import ResultStore

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["write_exports"]


def write_exports(run: RunData, store: ResultStore, out_dir: Path) -> list[Path]:
    """Write every export into out_dir; return their paths."""
    written = [
        _csv(run, out_dir / "results.csv"),
        _jsonl(run, store, out_dir / "results.jsonl"),
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
    """The trials frame with output, error and results as text: a string output as it is,
    anything else as JSON (one value type per column)."""
    frame = run.trials.copy()
    for column in ("output", "error", "results"):
        frame[column] = [
            v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for v in frame[column]
        ]
    return frame


def _csv(run: RunData, path: Path) -> Path:
    from pytest_crucible.review.reports._safe import FORMULA_START, csv_cell

    frame = _flat(run)
    import pandas as pd

    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            continue
        try:
            risky = values.str.startswith(FORMULA_START).fillna(False).astype(bool)
        except AttributeError:  # no text in this column
            continue
        if risky.any():
            frame[column] = values.where(~risky, "'" + values.astype(str))
    frame.columns = [csv_cell(str(c)) for c in frame.columns]
    return write_bytes(path, _csv_bytes(frame))


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """pyarrow's CSV writer when it is installed (ten times faster), else pandas'."""
    if importlib.util.find_spec("pyarrow") is not None:
        pa: Any = importlib.import_module("pyarrow")  # untyped
        pa_csv: Any = importlib.import_module("pyarrow.csv")
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
        except (pa.ArrowException, ValueError):  # a column of mixed types: use pandas
            pass
        else:
            sink = io.BytesIO()
            pa_csv.write_csv(table, sink)
            return bytes(sink.getvalue())
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _jsonl(run: RunData, store: ResultStore, path: Path) -> Path:
    """One JSON object per trial, as stored: metrics keep their types (booleans stay
    booleans)."""
    lines = run.lines if run.lines or not len(run.trials) else store.trial_lines(run.run_id)
    return write_text(path, "\n".join(lines) + "\n" if lines else "")


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
