"""`crucible export RUN`: a run's trials, one row per trial, as CSV, JSON lines or Parquet.

Every stored column of the trials table, flattened as `pytest_crucible.load_trials` flattens
it: the usage counts (model_calls, cache_hits, truncated, truncated_at) and one column per
metric (a float; booleans are 1.0 / 0.0) in place of the `usage` and `metrics` JSON. In CSV
and Parquet, the other JSON columns (output, error, artifacts, warnings, recovery) are text:
a string as it is, anything else as JSON; JSON lines keep them as JSON values. CSV and JSON
lines go to stdout unless --output is given; Parquet (it needs pyarrow: the `parquet` extra)
goes to a file, <experiment>-<run_id>.parquet by default.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from pytest_crucible.cli._store import open_runs
from pytest_crucible.errors import CrucibleError
from pytest_crucible.store.frames import flat_trials
from pytest_crucible.store.records import TRIAL_COLUMNS, USAGE_COUNTS, column_names

__all__ = ["add_parser"]

FORMATS = ("csv", "jsonl", "parquet")
_JSON_COLUMNS = frozenset(column_names(json=True))
# each stored column's type, so that every run's Parquet file has the same schema (a column
# with no value in this run is not typed null); JSON columns are text there
_SQL_TYPES = {
    **{column.name: column.sql.split()[0] for column in TRIAL_COLUMNS},
    **dict.fromkeys(_JSON_COLUMNS, "TEXT"),
    **dict.fromkeys(USAGE_COUNTS, "INTEGER"),
}
_STDOUT = "-"


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "export",
        parents=[shared],
        help="a run's trials as CSV, JSON lines or Parquet, one row per trial",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "run", metavar="RUN", help="a run id, a unique prefix of one, latest[:EXPERIMENT]"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="default: from the --output file's suffix, else csv",
    )
    parser.add_argument(
        "--output",
        default=None,
        metavar="PATH",
        help="the file to write ('-': stdout; default: stdout for csv and jsonl, "
        "<experiment>-<run_id>.parquet for parquet)",
    )
    parser.set_defaults(handler=_export)


def _export(options: argparse.Namespace) -> int:
    form = options.format or _format_of(options.output)
    if form == "parquet":
        _require_pyarrow()
    with open_runs(options, options.run) as (store, (run,)):
        columns, rows = flat_trials(store, run.run_id)
    data = _WRITERS[form](columns, rows)
    output = options.output
    if output is None and form == "parquet":
        output = f"{_file_name(run.experiment)}-{run.run_id}.parquet"
    if output is None or output == _STDOUT:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        _write_file(Path(output), data)
        print(
            f"crucible: wrote {len(rows)} trials of run {run.run_id} to {output}", file=sys.stderr
        )
    return 0


def _format_of(output: str | None) -> str:
    suffix = Path(output).suffix.lstrip(".").lower() if output and output != _STDOUT else ""
    return {"jsonl": "jsonl", "ndjson": "jsonl", "parquet": "parquet"}.get(suffix, "csv")


def _require_pyarrow() -> None:
    try:
        importlib.import_module("pyarrow")
    except ImportError:
        raise CrucibleError(
            "--format parquet needs pyarrow, which is not installed: pip install "
            "'pytest-crucible[parquet]' (or use --format csv or jsonl, which need nothing more)"
        ) from None


def _csv(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    from pytest_crucible.review.reports._safe import csv_cell  # results.csv's guard

    def cell(value: Any) -> Any:  # a text cell a spreadsheet will not run as a formula
        return "" if value is None else csv_cell(value) if isinstance(value, str) else value

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([cell(c) for c in columns])
    for row in rows:
        writer.writerow([cell(_as_text(name, row[name])) for name in columns])
    return text.getvalue().encode("utf-8", "backslashreplace")  # lone surrogates too


def _jsonl(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    lines = [_json_line({name: _finite(row[name]) for name in columns}) for row in rows]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _json_line(row: dict[str, Any]) -> str:
    line = json.dumps(row, ensure_ascii=False, default=repr)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escaped, the line stays valid JSON
        line = json.dumps(row, default=repr)
    return line


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _parquet(columns: list[str], rows: list[dict[str, Any]]) -> bytes:
    pa: Any = importlib.import_module("pyarrow")  # untyped
    pq: Any = importlib.import_module("pyarrow.parquet")

    types = {"INTEGER": pa.int64(), "REAL": pa.float64(), "TEXT": pa.string()}
    arrays = []
    for name in columns:
        values = [_as_text(name, row[name]) for row in rows]
        known = types.get(_SQL_TYPES.get(name, ""))  # None for a metric: a float (or null)
        try:
            arrays.append(pa.array(values, type=known))
        except (pa.ArrowException, TypeError, ValueError):  # mixed types: keep them as text
            arrays.append(pa.array([None if v is None else str(v) for v in values]))
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, names=columns), sink)
    return sink.getvalue()


def _as_text(column: str, value: Any) -> Any:
    """A JSON column's value as one cell: a string as it is, anything else as JSON."""
    if column not in _JSON_COLUMNS or value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=repr)


_WRITERS = {"csv": _csv, "jsonl": _jsonl, "parquet": _parquet}


def _file_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text).lstrip(".") or "run"


def _write_file(path: Path, data: bytes) -> None:
    """Write through a temporary file: a failed export leaves no half-written file."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise CrucibleError(
            f"cannot write {path}: {exc.strerror or exc}; give --output a path in a folder "
            "you can write to"
        ) from None
