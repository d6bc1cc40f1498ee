"""Datasets: items with stable ids, loaded lazily from lists, JSONL, CSV, Parquet, Hugging Face
folders and caches, or a callable; sampled, stratified, split into folds and filtered.

Every loader takes a field mapping (`id=`, `input=`, `expected=`, `cluster=`, `metadata=`).
See docs/datasets.md.
"""

from __future__ import annotations

from pytest_crucible.declare.datasets._arrow import huggingface, parquet
from pytest_crucible.declare.datasets._dataset import Dataset, Fold
from pytest_crucible.declare.datasets._items import FieldMap, Item, _Spec
from pytest_crucible.declare.datasets._text import coerce, csv, from_callable, from_records, jsonl

__all__ = [
    "Dataset",
    "FieldMap",
    "Fold",
    "Item",
    "coerce",
    "csv",
    "from_callable",
    "from_records",
    "huggingface",
    "jsonl",
    "parquet",
]

# `_Spec` was this module's name for a field mapping before the package existed
_ = _Spec
