"""`Dataset`: a lazy, ordered collection of items, and the datasets derived from it.

Nothing is read until `items` is first asked for (when an experiment is collected with
`--crucible`), so a plain `pytest` run stays fast. `sample`, `folds` and `filter` return new
lazy datasets whose names say what was done ("data.jsonl | sample(50, seed=1)"): the name
appears in error messages and in the stored run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pytest_crucible.declare.datasets import _sampling
from pytest_crucible.declare.datasets._items import FieldMap, Item, build_items
from pytest_crucible.errors import DatasetError
from pytest_crucible.util.hashing import digest
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Dataset", "Fold"]

__tracebackhide__ = hide_library_frames


class Fold(NamedTuple):
    """One of k folds: train on `train`, evaluate on `test` (unpacks as a pair)."""

    train: Dataset
    test: Dataset


class Dataset:
    """A lazily loaded, ordered collection of items.

    `load` returns raw records (dicts, or Items that pass through) that `spec` maps to items.
    `sample=N` keeps a seeded random sample of N items in their original order.
    """

    def __init__(
        self,
        load: Callable[[], Iterable[Any]],
        *,
        name: str,
        spec: FieldMap | None = None,
        sample: int | None = None,
        seed: int = 0,
    ) -> None:
        if sample is not None:
            _check_count("sample", sample, name)
        self._load = load
        self.name = name
        self._spec = spec or FieldMap()
        self._sample = sample
        self._seed = seed
        self._items: tuple[Item, ...] | None = None

    def __repr__(self) -> str:
        return f"Dataset({self.name!r})"

    @property
    def items(self) -> tuple[Item, ...]:
        if self._items is None:
            items = build_items(self._load(), self._spec, self.name)
            if self._sample is not None:
                items = _sampling.sample_items(items, self._sample, self._seed)
            self._items = items
        return self._items

    def __len__(self) -> int:
        return len(self.items)

    @property
    def fingerprint(self) -> str:
        """The dataset's version: a hash of every item's content, in order."""
        return digest("".join(item.fingerprint for item in self.items))

    def item_fingerprints(self) -> dict[str, str]:
        """Each item's content hash by id: what tells which items changed between versions."""
        return {item.id: item.fingerprint for item in self.items}

    def _derive(self, name: str, pick: Callable[[tuple[Item, ...]], Iterable[Item]]) -> Dataset:
        return Dataset(lambda: pick(self.items), name=name)

    def sample(self, n: int, *, seed: int = 0, stratify: str | None = None) -> Dataset:
        """A new dataset holding a seeded, deterministic sample of `n` items.

        With `stratify="field"` (a metadata or input field) each value of the field gets its
        proportional share of the n items (largest-remainder rounding; at least one item each
        when n allows).
        """
        _check_count("sample", n, self.name)
        if stratify is None:
            return self._derive(
                f"{self.name} | sample({n}, seed={seed})",
                lambda items: _sampling.sample_items(items, n, seed),
            )
        name = f"{self.name} | sample({n}, stratify={stratify!r}, seed={seed})"
        return self._derive(
            name, lambda items: _sampling.stratified_sample(items, n, stratify, seed, name)
        )

    def folds(self, k: int, *, seed: int = 0) -> tuple[Fold, ...]:
        """k (train, test) pairs: every item is in exactly one test set (a seeded split)."""
        if not isinstance(k, int) or isinstance(k, bool) or k < 2:
            raise DatasetError(f"dataset {self.name}: folds(k={k!r}) needs an integer k >= 2")
        assigned: list[list[int]] = []

        def fold_numbers(items: tuple[Item, ...]) -> list[int]:
            if not assigned:
                assigned.append(_sampling.fold_of(items, k, seed, self.name))
            return assigned[0]

        def part(index: int, test: bool) -> Callable[[tuple[Item, ...]], list[Item]]:
            def pick(items: tuple[Item, ...]) -> list[Item]:
                numbers = fold_numbers(items)
                return [it for it, f in zip(items, numbers, strict=True) if (f == index) == test]

            return pick

        return tuple(
            Fold(
                train=self._derive(
                    f"{self.name} | fold {i + 1}/{k} train (seed={seed})", part(i, test=False)
                ),
                test=self._derive(
                    f"{self.name} | fold {i + 1}/{k} test (seed={seed})", part(i, test=True)
                ),
            )
            for i in range(k)
        )

    def filter(self, predicate: Callable[[Item], bool], *, name: str | None = None) -> Dataset:
        """A new dataset of the items for which `predicate(item)` is true."""
        if not callable(predicate):
            raise DatasetError(
                f"dataset {self.name}: filter({predicate!r:.60}) needs a function of an Item"
            )
        label = name or _sampling.describe_predicate(predicate)

        def pick(items: tuple[Item, ...]) -> list[Item]:
            return [item for item in items if predicate(item)]

        return self._derive(f"{self.name} | filter({label})", pick)


def _check_count(what: str, n: Any, name: str) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise DatasetError(f"dataset {name}: {what}={n!r} must be a positive integer")
