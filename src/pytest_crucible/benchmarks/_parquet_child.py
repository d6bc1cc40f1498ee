"""Parquet files read in a child process, so pyarrow (and the numpy it imports) never load
into the pytest process.

The parent calls `read_parquet_files(files)`; it runs `python -m
pytest_crucible.benchmarks._parquet_child FILE...`, which prints one JSON line per file,
`{"file": ..., "rows": [{column: value, ...}, ...]}`, and exits 0, or prints one message to
stderr and exits with `_FAILED`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_crucible.errors import DatasetError

__all__ = ["read_parquet_files"]

_FAILED = 3
_TIMEOUT_S = 600  # the 14,042 rows of MMLU's test split take a second; a busy machine more
_NEEDS_PYARROW = (
    "reading Parquet files needs pyarrow, which is not installed in {python}: "
    "pip install 'pytest-crucible[parquet]'"
)


def read_parquet_files(files: Sequence[Path]) -> list[tuple[Path, list[dict[str, Any]]]]:
    """Each file of `files` with its rows, in order, as dicts of plain JSON values."""
    if not files:
        return []
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, *map(str, files)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DatasetError(
            f"reading {len(files)} Parquet file(s) took over {_TIMEOUT_S} s "
            f"(first: {files[0]}); check that the files are on a local disk"
        ) from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise DatasetError(message[0])
    read = [json.loads(line) for line in done.stdout.splitlines() if line]
    return [(Path(one["file"]), one["rows"]) for one in read]


def _main(paths: Sequence[str]) -> int:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        print(_NEEDS_PYARROW.format(python=sys.executable), file=sys.stderr)
        return _FAILED
    out = sys.stdout
    for path in paths:
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow's errors have no common base worth naming
            print(
                f"Parquet file {path} cannot be read ({type(exc).__name__}: {exc}); "
                "download it again or pass the folder of a complete copy",
                file=sys.stderr,
            )
            return _FAILED
        out.write(json.dumps({"file": path, "rows": rows}, default=str))
        out.write("\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
