"""Seeded sampling, stratified sampling and k-fold splits of items.

Every draw uses `random.Random` seeded with an int or a string (a string seed is hashed with
SHA-512 by Python, never with the per-process `hash()`), so each process and each resume of
a run draws the same items. Every result keeps the items in their original order.
"""

from __future__ import annotations

import random
from typing import Any

from pytest_crucible.declare.datasets._items import Item
from pytest_crucible.errors import DatasetError
from pytest_crucible.util.hashing import canonical_json

__all__ = ["fold_of", "sample_items", "stratified_sample"]


def sample_items(items: tuple[Item, ...], n: int, seed: int) -> tuple[Item, ...]:
    """A seeded random sample of `n` items (all of them when there are no more than n)."""
    if n >= len(items):
        return items
    chosen = sorted(random.Random(seed).sample(range(len(items)), n))
    return tuple(items[i] for i in chosen)


def stratum_of(item: Item, field: str, source: str) -> str:
    """The value of `field` for an item (metadata first, then a dict input), as JSON text."""
    if field in item.metadata:
        return canonical_json(item.metadata[field])
    if isinstance(item.input, dict) and field in item.input:
        return canonical_json(item.input[field])
    if field in ("expected", "cluster"):
        return canonical_json(getattr(item, field))
    known = sorted(
        set(item.metadata) | (set(item.input) if isinstance(item.input, dict) else set())
    )
    raise DatasetError(
        f"dataset {source}: cannot stratify by {field!r}: item {item.id!r} has no such "
        f"metadata or input field (it has {known}); stratify by one of those"
    )


def allocate(sizes: list[int], n: int) -> list[int]:
    """Split n over strata proportionally to their sizes (largest remainder rounding).

    Every stratum gets at least one when n is at least the number of strata; no stratum gets
    more than it holds. Ties go to the earlier stratum, so the split is deterministic.
    """
    total = sum(sizes)
    quotas = [n * size / total for size in sizes]
    counts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    if n >= len(sizes):
        for empty in [i for i, c in enumerate(counts) if c == 0]:
            donor = max(range(len(counts)), key=lambda i: (counts[i], -i))
            counts[donor] -= 1
            counts[empty] += 1
    return counts


def stratified_sample(
    items: tuple[Item, ...], n: int, field: str, seed: int, source: str
) -> tuple[Item, ...]:
    """A sample of n items with each value of `field` represented in proportion."""
    strata: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        strata.setdefault(stratum_of(item, field, source), []).append(index)
    if len(strata) < 2:
        (only,) = strata
        raise DatasetError(
            f"dataset {source}: stratify={field!r} has a single value ({only}) over all "
            f"{len(items)} items; stratifying needs two or more values: pick another field "
            "or sample without stratify"
        )
    if n >= len(items):
        return items
    keys = sorted(strata)
    counts = allocate([len(strata[k]) for k in keys], n)
    chosen: list[int] = []
    for key, count in zip(keys, counts, strict=True):
        chosen.extend(random.Random(f"{seed}:{key}").sample(strata[key], count))
    return tuple(items[i] for i in sorted(chosen))


def fold_of(items: tuple[Item, ...], k: int, seed: int, source: str) -> list[int]:
    """The fold (0..k-1) of each item: a seeded shuffle dealt round-robin into k folds."""
    if k > len(items):
        raise DatasetError(
            f"dataset {source}: folds({k}) needs at least {k} items, it has {len(items)}; "
            "use fewer folds"
        )
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    folds = [0] * len(items)
    for rank, index in enumerate(order):
        folds[index] = rank % k
    return folds


def describe_predicate(predicate: Any) -> str:
    """A readable name for a filter's predicate (used in the derived dataset's name)."""
    name = getattr(predicate, "__qualname__", None) or repr(predicate)
    return str(name)
