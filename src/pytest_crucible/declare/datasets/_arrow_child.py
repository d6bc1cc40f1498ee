"""The child process that reads Parquet or Arrow files into JSON Lines.

`python -m pytest_crucible.declare.datasets._arrow_child KIND OUT FILE...` reads each FILE
(KIND: "parquet", or "arrow" for the stream files of a `datasets` save_to_disk folder) and
writes one JSON object per row to OUT. pyarrow imports numpy, which must never load into the
pytest process: this child is why. Values JSON cannot hold become JSON-safe here (bytes as
UTF-8 text or base64, dates and times as ISO text, decimals as text, numpy scalars as numbers).
Exit status 3 means pyarrow is missing; 4 means a file could not be read (the reason on stderr).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import importlib
import json
import math
import sys
from typing import Any

MISSING_PYARROW = 3
UNREADABLE = 4


def json_safe(value: Any) -> Any:
    """A JSON-safe copy of a value from pyarrow's `to_pylist()`."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    return str(value)


def _tables(kind: str, path: str) -> Any:
    pa: Any = importlib.import_module("pyarrow")  # untyped
    pq: Any = importlib.import_module("pyarrow.parquet")

    if kind == "parquet":
        return pq.read_table(path)
    with pa.memory_map(path) as source:  # `datasets` writes Arrow IPC streams
        return pa.ipc.open_stream(source).read_all()


def main(argv: list[str]) -> int:
    kind, out, *files = argv
    try:
        importlib.import_module("pyarrow")
    except ImportError:
        print("pyarrow is not installed", file=sys.stderr)
        return MISSING_PYARROW
    with open(out, "w", encoding="utf-8") as sink:
        for path in files:
            try:
                table = _tables(kind, path)
            except Exception as exc:  # any reader error: the parent names the file
                print(f"{path}: {type(exc).__name__}: {exc}", file=sys.stderr)
                return UNREADABLE
            for batch in table.to_batches(max_chunksize=4096):
                for row in batch.to_pylist():
                    sink.write(json.dumps(json_safe(row), ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
