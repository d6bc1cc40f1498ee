"""Loaders of records held in Python or in text files: lists, callables, JSONL and CSV."""

from __future__ import annotations

import csv as _csv
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_crucible.declare.datasets._dataset import Dataset
from pytest_crucible.declare.datasets._items import Item, field_map
from pytest_crucible.errors import DatasetError
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["coerce", "csv", "from_callable", "from_records", "jsonl"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames


def from_records(
    records: Sequence[Mapping[str, Any] | Item],
    *,
    id: str | None = None,
    input: str | Sequence[str] | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    metadata: Sequence[str] | Mapping[str, str] | None = None,
    name: str = "<list>",
) -> Dataset:
    """A dataset from an in-memory list of dicts or Items."""
    frozen = list(records)
    return Dataset(
        lambda: frozen, name=name, spec=field_map(id, input, expected, cluster, metadata)
    )


def from_callable(
    load: Callable[[], Iterable[Mapping[str, Any] | Item]],
    *,
    id: str | None = None,
    input: str | Sequence[str] | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    metadata: Sequence[str] | Mapping[str, str] | None = None,
) -> Dataset:
    """A dataset produced by a function, called once when the experiment is collected."""
    name = getattr(load, "__qualname__", repr(load))
    return Dataset(load, name=f"{name}()", spec=field_map(id, input, expected, cluster, metadata))


def jsonl(
    path: str | Path,
    *,
    id: str | None = None,
    input: str | Sequence[str] | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    metadata: Sequence[str] | Mapping[str, str] | None = None,
) -> Dataset:
    """A dataset from a JSON Lines file, one JSON object per line (blank lines are skipped).

    A relative path is resolved against the current directory when the dataset is loaded.
    """
    file = Path(path)
    return Dataset(
        lambda: _read_jsonl(file),
        name=str(file),
        spec=field_map(id, input, expected, cluster, metadata),
    )


def csv(
    path: str | Path,
    *,
    id: str | None = None,
    input: str | Sequence[str] | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    metadata: Sequence[str] | Mapping[str, str] | None = None,
    delimiter: str = ",",
) -> Dataset:
    """A dataset from a CSV file with a header row; every cell is read as a string."""
    file = Path(path)
    return Dataset(
        lambda: _read_csv(file, delimiter),
        name=str(file),
        spec=field_map(id, input, expected, cluster, metadata),
    )


def _open(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(
            f"dataset file {file} does not exist (current directory: {Path.cwd()}); "
            "check the path, or make it absolute with Path(__file__).parent / ..."
        ) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"dataset file {file} is not UTF-8 text: {exc}") from None


def _read_jsonl(file: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(_open(file).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"dataset file {file}, line {number}: not valid JSON ({exc.msg} at column "
                f"{exc.colno}): {line[:80]!r}; fix or remove that line"
            ) from None
        if not isinstance(row, dict):
            raise DatasetError(
                f"dataset file {file}, line {number}: expected a JSON object, got "
                f"{type(row).__name__}: {line[:80]!r}"
            )
        rows.append(row)
    return rows


def _read_csv(file: Path, delimiter: str) -> list[dict[str, Any]]:
    reader = _csv.DictReader(_open(file).splitlines(), delimiter=delimiter)
    rows: list[dict[str, Any]] = []
    for row in reader:
        if None in row:
            raise DatasetError(
                f"dataset file {file}, line {reader.line_num}: more cells than the header "
                f"has columns ({len(reader.fieldnames or [])}); quote cells that hold "
                f"{delimiter!r}"
            )
        rows.append(dict(row))
    return rows


def coerce(source: Any) -> Dataset:
    """Turn what a user passes as `dataset=` into a Dataset."""
    if isinstance(source, Dataset):
        return source
    if isinstance(source, list | tuple):
        return from_records(source)
    if callable(source):
        return from_callable(source)
    raise DatasetError(
        f"dataset={source!r:.80} is not a dataset; pass a list of dicts or Items, "
        "crucible.datasets.jsonl(...) / csv(...) / parquet(...) / huggingface(...), "
        "or a function returning records"
    )
