"""Loaders of Parquet files and Hugging Face datasets, read in a child process and cached.

pyarrow (and `datasets`) import numpy, which must never load into the pytest process, so the
files are read by `_arrow_child` in a child Python that writes JSON Lines. The rows are cached
on disk under the system temp folder, keyed by every source file's path, size and mtime: xdist
workers and later runs read the cached JSON Lines instead of starting the child again.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

try:  # POSIX: concurrent loaders of one file wait for the first; elsewhere each converts
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from pytest_crucible.declare.datasets import _arrow_child
from pytest_crucible.declare.datasets._dataset import Dataset
from pytest_crucible.declare.datasets._hf_files import ArrowSource, locate
from pytest_crucible.declare.datasets._items import field_map
from pytest_crucible.errors import DatasetError
from pytest_crucible.util.hashing import canonical_json, digest
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["cache_dir", "huggingface", "parquet"]

__tracebackhide__ = hide_library_frames

_CHILD_TIMEOUT_S = 600.0  # a big dataset on a busy machine; the cache makes it a one-off


def cache_dir() -> Path:
    """Where converted rows are cached (`$CRUCIBLE_DATASET_CACHE` overrides it)."""
    chosen = os.environ.get("CRUCIBLE_DATASET_CACHE")
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / "pytest-crucible-datasets"


def parquet(
    path: str | Path,
    *,
    id: str | None = None,
    input: str | Sequence[str] | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    metadata: Sequence[str] | Mapping[str, str] | None = None,
) -> Dataset:
    """A dataset from a Parquet file (or a folder of them, read in file-name order).

    Needs pyarrow (`pip install 'pytest-crucible[parquet]'`), run in a child process.
    """
    target = Path(path)
    spec = field_map(id, input, expected, cluster, metadata)

    def load() -> list[dict[str, Any]]:
        if target.is_dir():
            files = tuple(sorted(target.rglob("*.parquet")))
            if not files:
                raise DatasetError(f"dataset folder {target} holds no .parquet files")
        elif target.is_file():
            files = (target,)
        else:
            raise DatasetError(
                f"dataset file {target} does not exist (current directory: {Path.cwd()}); "
                "check the path, or make it absolute with Path(__file__).parent / ..."
            )
        return read_rows(ArrowSource("parquet", files), str(target), extra="parquet")

    return Dataset(load, name=str(target), spec=spec)


def huggingface(
    path_or_name: str | Path,
    split: str = "test",
    config: str | None = None,
    *,
    id: str | None = None,
    input: str | Sequence[str] | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    metadata: Sequence[str] | Mapping[str, str] | None = None,
) -> Dataset:
    """A Hugging Face dataset read locally: a save_to_disk folder or the hub cache.

    `path_or_name` is a folder (`Dataset.save_to_disk` or `DatasetDict.save_to_disk`, or a
    snapshot of Parquet files) or a hub name such as "openai/gsm8k", looked up in the hub
    cache. Nothing is downloaded. Needs pyarrow (`pip install 'pytest-crucible[hf]'`).
    """
    spec = field_map(id, input, expected, cluster, metadata)
    where = f"{path_or_name}[{config + '/' if config else ''}{split}]"

    def load() -> list[dict[str, Any]]:
        return read_rows(locate(path_or_name, split, config), where, extra="hf")

    return Dataset(load, name=where, spec=spec)


def read_rows(source: ArrowSource, label: str, *, extra: str) -> list[dict[str, Any]]:
    """The rows of `source` as dicts: from the cache, or converted by the child first."""
    stamp = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in source.files]
    cached = cache_dir() / f"{digest(canonical_json([source.kind, stamp]))}.jsonl"
    if not cached.is_file():
        with _converting(cached):  # xdist workers collect at once: one converts, others wait
            if not cached.is_file():
                _convert(source, cached, label, extra)
    rows: list[dict[str, Any]] = []
    with cached.open(encoding="utf-8") as lines:
        for line in lines:
            rows.append(json.loads(line))
    return rows


@contextlib.contextmanager
def _converting(cached: Path) -> Iterator[None]:
    """Hold the cache entry's lock file (released by the kernel if this process dies)."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    with cached.with_suffix(".lock").open("a") as lock:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _convert(source: ArrowSource, cached: Path, label: str, extra: str) -> None:
    cached.parent.mkdir(parents=True, exist_ok=True)
    # a private name per process, renamed into place: concurrent workers never see half a file
    partial = cached.with_name(f"{cached.stem}.{os.getpid()}.partial")
    command = [sys.executable, "-m", _arrow_child.__name__, source.kind, str(partial)]
    try:
        done = subprocess.run(
            [*command, *map(str, source.files)],
            capture_output=True,
            text=True,
            timeout=_CHILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        partial.unlink(missing_ok=True)
        raise DatasetError(
            f"dataset {label}: reading {len(source.files)} file(s) took over "
            f"{_CHILD_TIMEOUT_S:.0f} s; sample the files down or convert them to JSONL"
        ) from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise DatasetError(_failure(done.returncode, done.stderr, label, extra))
    os.replace(partial, cached)


def _failure(code: int, stderr: str, label: str, extra: str) -> str:
    if code == _arrow_child.MISSING_PYARROW:
        return (
            f"dataset {label} needs pyarrow to read Parquet/Arrow files, and it is not "
            f"installed: pip install 'pytest-crucible[{extra}]'"
        )
    reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {code}"
    if code == _arrow_child.UNREADABLE:
        return (
            f"dataset {label}: a data file is not readable Parquet/Arrow ({reason}); "
            "check that the file is complete, or write it again"
        )
    return f"dataset {label}: the reader process failed ({reason})"
