"""Items and the field mapping that turns raw records (dicts) into items.

An `Item` has an id, an input, an expected answer, metadata and an optional cluster key (items
that share a passage or a template share a cluster; the analysis then works on clusters).
A `FieldMap` names which record fields hold each of these; a field it names that a record
lacks is a `DatasetError` naming the field, the source and the fields the record has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pytest_crucible.errors import DatasetError
from pytest_crucible.util.hashing import canonical_json, digest
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["FieldMap", "Item", "build_items", "field_map"]

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

    @cached_property  # once per item: every trial key and the run's header ask for it
    def fingerprint(self) -> str:
        """A hash of the item's content: editing the item changes its trials' keys."""
        return digest(canonical_json(self.to_dict()))


@dataclass(frozen=True)
class FieldMap:
    """Which record fields hold the id, input, expected answer, cluster and metadata.

    `input` is one field, or several (the input is then a dict of them). `metadata` is None
    (every field not used otherwise), or a tuple of (metadata key, record field) pairs.
    None elsewhere means the conventional field name ("id", "input", ...), which may be absent.
    """

    id: str | None = None
    input: str | tuple[str, ...] | None = None
    expected: str | None = None
    cluster: str | None = None
    metadata: tuple[tuple[str, str], ...] | None = None

    def named_fields(self) -> list[tuple[str, str]]:
        """(role, record field) for each field this mapping names explicitly (each must exist)."""
        named = [
            (role, f)
            for role, f in (("id", self.id), ("expected", self.expected), ("cluster", self.cluster))
            if f is not None
        ]
        if isinstance(self.input, str):
            named.append(("input", self.input))
        elif self.input is not None:
            named.extend(("input", f) for f in self.input)
        named.extend(("metadata", source) for _, source in self.metadata or ())
        return named


# kept for code that built specs positionally before the package existed
_Spec = FieldMap


def field_map(
    id: str | None = None,
    input: str | Sequence[str] | None = None,
    expected: str | None = None,
    cluster: str | None = None,
    metadata: Sequence[str] | Mapping[str, str] | None = None,
) -> FieldMap:
    """Check a loader's mapping arguments and freeze them into a `FieldMap`."""
    for label, value in (("id", id), ("expected", expected), ("cluster", cluster)):
        if value is not None and not isinstance(value, str):
            raise DatasetError(f"{label}={value!r} must be a field name (a string)")
    inputs: str | tuple[str, ...] | None
    if input is None or isinstance(input, str):
        inputs = input
    else:
        inputs = tuple(input)
        if not inputs or not all(isinstance(f, str) for f in inputs):
            raise DatasetError(f"input={input!r} must be a field name or a list of field names")
    pairs: tuple[tuple[str, str], ...] | None
    if metadata is None:
        pairs = None
    elif isinstance(metadata, Mapping):
        pairs = tuple((str(k), v) for k, v in metadata.items())
    elif isinstance(metadata, str):
        pairs = ((metadata, metadata),)
    else:
        pairs = tuple((f, f) for f in metadata)
    if pairs is not None and not all(isinstance(source, str) for _, source in pairs):
        raise DatasetError(
            f"metadata={metadata!r} must be a list of field names or a mapping "
            "{metadata key: field name}"
        )
    return FieldMap(id, inputs, expected, cluster, pairs)


def build_items(records: Iterable[Any], spec: FieldMap, source: str) -> tuple[Item, ...]:
    """Items from raw records, with unique ids; an empty result is an error."""
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


def _to_item(record: Any, spec: FieldMap, source: str, position: int) -> Item:
    if isinstance(record, Item):
        return record
    if not isinstance(record, Mapping):
        raise DatasetError(
            f"dataset {source}, record {position}: expected a dict or an Item, "
            f"got {type(record).__name__} ({record!r:.80})"
        )
    row = dict(record)
    for role, name in spec.named_fields():
        if name not in row:
            raise DatasetError(
                f"dataset {source}, record {position}: {role} field {name!r} (named in the "
                f"field mapping) is missing; the record has fields {sorted(map(str, row))}. "
                "Name one of those, or fix the record"
            )
    id_field = spec.id or "id"
    expected_field = spec.expected or "expected"
    cluster_field = spec.cluster or "cluster"
    used = {id_field, expected_field, cluster_field, "metadata"}
    if isinstance(spec.input, tuple):
        value: Any = {name: row[name] for name in spec.input}
        used.update(spec.input)
    else:
        input_field = spec.input or "input"
        used.add(input_field)
        if input_field in row:
            value = row[input_field]
        else:  # no input field: the record is the input, less expected answer, cluster and id
            left_out = {expected_field, cluster_field, "metadata", "id"}
            value = {k: v for k, v in row.items() if k not in left_out}
    if spec.metadata is None:
        metadata = dict(row.get("metadata") or {})
        metadata.update({k: v for k, v in row.items() if k not in used})
    else:
        metadata = {key: row[source_field] for key, source_field in spec.metadata}
    raw_id = row.get(id_field)
    cluster = row.get(cluster_field)
    return Item(
        id=str(raw_id) if raw_id not in (None, "") else _content_id(row),
        input=value,
        expected=row.get(expected_field),
        metadata=metadata,
        cluster=None if cluster in (None, "") else str(cluster),
    )


def _content_id(row: Mapping[str, Any]) -> str:
    return digest(canonical_json(row))[:12]
