"""Datasets: items with stable ids, loaded lazily from lists, JSONL, CSV or a callable.

An `Item` has an id, an input, an expected answer, metadata and an optional cluster key (items
that share a passage or a template share a cluster; the analysis then works on clusters).
A `Dataset` is a lazy source: nothing is read until an experiment is collected with
`--crucible`, so a plain `pytest` run stays fast.
"""

from __future__ import annotations

import csv as _csv
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_crucible.errors import DatasetError
from pytest_crucible.util.hashing import canonical_json, digest
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Dataset", "Item", "csv", "from_callable", "from_records", "jsonl"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames


@dataclass(frozen=True)
class Item:
    """One dataset item. `id` is unique within its dataset and stable across runs."""

    id: str
    input: Any
    expected: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    cluster: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input,
            "expected": self.expected,
            "metadata": dict(self.metadata),
            "cluster": self.cluster,
        }

    @property
    def fingerprint(self) -> str:
        """A hash of the item's content: editing the item changes its trials' keys."""
        return digest(canonical_json(self.to_dict()))


@dataclass(frozen=True)
class _Spec:
    """How raw records become items: which fields hold the id, input, expected, cluster."""

    id: str | None = None
    input: str | None = None
    expected: str | None = None
    cluster: str | None = None


class Dataset:
    """A lazily loaded, ordered collection of items.

    `sample=N` keeps a seeded random sample of N items in their original order.
    """

    def __init__(
        self,
        load: Callable[[], Iterable[Any]],
        *,
        name: str,
        spec: _Spec | None = None,
        sample: int | None = None,
        seed: int = 0,
    ) -> None:
        if sample is not None and (not isinstance(sample, int) or sample < 1):
            raise DatasetError(f"dataset {name}: sample={sample!r} must be a positive integer")
        self._load = load
        self.name = name
        self._spec = spec or _Spec()
        self._sample = sample
        self._seed = seed
        self._items: tuple[Item, ...] | None = None

    def __repr__(self) -> str:
        return f"Dataset({self.name!r})"

    def sample(self, n: int, *, seed: int = 0) -> Dataset:
        """A new dataset holding a seeded, deterministic sample of `n` items."""
        return Dataset(self._load, name=self.name, spec=self._spec, sample=n, seed=seed)

    @property
    def items(self) -> tuple[Item, ...]:
        if self._items is None:
            items = _build_items(self._load(), self._spec, self.name)
            self._items = _draw_sample(items, self._sample, self._seed)
        return self._items

    def __len__(self) -> int:
        return len(self.items)

    @property
    def fingerprint(self) -> str:
        """A hash of every item's content, in order."""
        return digest("".join(item.fingerprint for item in self.items))


def _draw_sample(items: tuple[Item, ...], n: int | None, seed: int) -> tuple[Item, ...]:
    if n is None or n >= len(items):
        return items
    chosen = sorted(random.Random(seed).sample(range(len(items)), n))
    return tuple(items[i] for i in chosen)


def _build_items(records: Iterable[Any], spec: _Spec, source: str) -> tuple[Item, ...]:
    items: list[Item] = []
    first_seen: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for position, record in enumerate(records, start=1):
        item = _to_item(record, spec, source, position)
        if item.id in first_seen:
            duplicates.setdefault(item.id, [first_seen[item.id]]).append(position)
        else:
            first_seen[item.id] = position
        items.append(item)
    if duplicates:
        listed = "; ".join(
            f"{item_id!r} at records {', '.join(map(str, where))}"
            for item_id, where in list(duplicates.items())[:10]
        )
        raise DatasetError(
            f"dataset {source}: item ids repeat ({len(duplicates)} ids): {listed}. "
            "Each item needs a unique id: choose a unique field with id=..., "
            "or leave id out to use a content hash"
        )
    if not items:
        raise DatasetError(f"dataset {source} has no items; an experiment needs at least one")
    return tuple(items)


def _to_item(record: Any, spec: _Spec, source: str, position: int) -> Item:
    if isinstance(record, Item):
        return record
    if not isinstance(record, Mapping):
        raise DatasetError(
            f"dataset {source}, record {position}: expected a dict or an Item, "
            f"got {type(record).__name__} ({record!r:.80})"
        )
    row = dict(record)
    id_field = spec.id or "id"
    if spec.id is not None and spec.id not in row:
        raise DatasetError(
            f"dataset {source}, record {position}: id field {spec.id!r} is missing; "
            f"the record has fields {sorted(row)}"
        )
    raw_id = row.get(id_field)
    input_field = spec.input or "input"
    expected_field = spec.expected or "expected"
    cluster_field = spec.cluster or "cluster"
    if input_field in row:
        value = row[input_field]
    else:  # no input field: the record is the input, less expected answer, cluster and id
        left_out = {expected_field, cluster_field, "metadata", "id"}
        value = {k: v for k, v in row.items() if k not in left_out}
    used = {id_field, input_field, expected_field, cluster_field, "metadata"}
    metadata = dict(row.get("metadata") or {})
    metadata.update({k: v for k, v in row.items() if k not in used})
    cluster = row.get(cluster_field)
    item_id = str(raw_id) if raw_id not in (None, "") else _content_id(row)
    return Item(
        id=item_id,
        input=value,
        expected=row.get(expected_field),
        metadata=metadata,
        cluster=None if cluster in (None, "") else str(cluster),
    )


def _content_id(row: Mapping[str, Any]) -> str:
    return digest(canonical_json(row))[:12]


def from_records(
    records: Sequence[Mapping[str, Any] | Item],
    *,
    id: str | None = None,
    input: str | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    name: str = "<list>",
) -> Dataset:
    """A dataset from an in-memory list of dicts or Items."""
    frozen = list(records)
    return Dataset(lambda: frozen, name=name, spec=_Spec(id, input, expected, cluster))


def from_callable(
    load: Callable[[], Iterable[Mapping[str, Any] | Item]],
    *,
    id: str | None = None,
    input: str | None = None,
    expected: str | None = None,
    cluster: str | None = None,
) -> Dataset:
    """A dataset produced by a function, called once when the experiment is collected."""
    name = getattr(load, "__qualname__", repr(load))
    return Dataset(load, name=f"{name}()", spec=_Spec(id, input, expected, cluster))


def jsonl(
    path: str | Path,
    *,
    id: str | None = None,
    input: str | None = None,
    expected: str | None = None,
    cluster: str | None = None,
) -> Dataset:
    """A dataset from a JSON Lines file, one JSON object per line (blank lines are skipped).

    A relative path is resolved against the current directory when the dataset is loaded.
    """
    file = Path(path)
    return Dataset(
        lambda: _read_jsonl(file), name=str(file), spec=_Spec(id, input, expected, cluster)
    )


def csv(
    path: str | Path,
    *,
    id: str | None = None,
    input: str | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    delimiter: str = ",",
) -> Dataset:
    """A dataset from a CSV file with a header row; every cell is read as a string."""
    file = Path(path)
    return Dataset(
        lambda: _read_csv(file, delimiter),
        name=str(file),
        spec=_Spec(id, input, expected, cluster),
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
        "crucible.datasets.jsonl(...) / csv(...), or a function returning records"
    )
