"""Sampling, stratified sampling, folds and filters: deterministic across processes, lazy,
named after what was done, with clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from pytest_crucible import DatasetError, Item, datasets
from pytest_crucible.declare.datasets._sampling import allocate

SUBJECTS = ["math"] * 50 + ["geo"] * 30 + ["art"] * 15 + ["law"] * 5


def _data() -> datasets.Dataset:
    return datasets.from_records(
        [{"id": f"q{n}", "input": n, "subject": s} for n, s in enumerate(SUBJECTS)],
        name="mmlu",
    )


def test_stratified_sample_is_proportional_and_keeps_order() -> None:
    picked = _data().sample(20, stratify="subject", seed=3)
    counts = Counter(i.metadata["subject"] for i in picked.items)
    assert counts == {"math": 10, "geo": 6, "art": 3, "law": 1}
    assert [i.input for i in picked.items] == sorted(i.input for i in picked.items)
    assert picked.name == "mmlu | sample(20, stratify='subject', seed=3)"
    other = _data().sample(20, stratify="subject", seed=4)
    assert [i.id for i in other.items] != [i.id for i in picked.items]


def test_largest_remainder_allocation_gives_every_stratum_one_when_it_can() -> None:
    assert allocate([50, 30, 15, 5], 7) == [3, 2, 1, 1]  # quotas 3.5 2.1 1.05 .35
    assert allocate([98, 1, 1], 3) == [1, 1, 1]
    assert allocate([98, 1, 1], 2) == [2, 0, 0]  # fewer picks than strata: no minimum
    assert sum(allocate([7, 7, 7], 10)) == 10


def test_draws_are_the_same_in_another_process() -> None:
    """String seeds and random.Random never use the per-process hash(): a child with another
    PYTHONHASHSEED draws the same items, as xdist workers and resumed runs must."""
    script = (
        "import json\n"
        "from tests.test_datasets_sampling import _data\n"
        "d = _data()\n"
        "print(json.dumps([[i.id for i in d.sample(9, stratify='subject', seed=5).items],\n"
        "    [i.id for i in d.sample(9, seed=5).items],\n"
        "    [[i.id for i in f.test.items] for f in d.folds(3, seed=5)]]))\n"
    )
    rootdir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    runs = [
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            cwd=rootdir,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            timeout=120,
            check=True,
        ).stdout
        for hash_seed in ("1", "2")
    ]
    data = _data()
    here = [
        [i.id for i in data.sample(9, stratify="subject", seed=5).items],
        [i.id for i in data.sample(9, seed=5).items],
        [[i.id for i in f.test.items] for f in data.folds(3, seed=5)],
    ]
    assert json.loads(runs[0]) == json.loads(runs[1]) == here


def test_folds_partition_the_items() -> None:
    data = _data()
    folds = data.folds(4, seed=1)
    assert len(folds) == 4
    tests = [set(i.id for i in fold.test.items) for fold in folds]
    assert sorted(len(t) for t in tests) == [25, 25, 25, 25]
    assert set().union(*tests) == {i.id for i in data.items}
    for fold, test_ids in zip(folds, tests, strict=True):
        train, test = fold  # a fold unpacks as a (train, test) pair
        assert test is fold.test
        assert {i.id for i in train.items} == {i.id for i in data.items} - test_ids
    assert folds[1].test.name == "mmlu | fold 2/4 test (seed=1)"
    assert folds[1].train.name == "mmlu | fold 2/4 train (seed=1)"


def test_derived_datasets_are_lazy_and_compose() -> None:
    calls: list[int] = []

    def load() -> list[dict[str, object]]:
        calls.append(1)
        return [{"id": n, "input": n, "level": n % 3} for n in range(30)]

    def hard(item: Item) -> bool:
        return item.metadata["level"] == 2

    chained = datasets.from_callable(load).filter(hard).sample(4, seed=2)
    folds = datasets.from_callable(load).folds(3)
    assert calls == []  # nothing read until the items are asked for
    assert chained.name == "test_derived_datasets_are_lazy_and_compose.<locals>.load() | " + (
        "filter(test_derived_datasets_are_lazy_and_compose.<locals>.hard) | sample(4, seed=2)"
    )
    assert len(chained.items) == 4 and all(i.metadata["level"] == 2 for i in chained.items)
    assert calls == [1]
    _ = [fold.test.items for fold in folds]
    assert calls == [1, 1]  # the folds share one load of their parent
    named = datasets.from_callable(load).filter(lambda i: i.input < 3, name="first three")
    assert named.name.endswith("| filter(first three)") and len(named) == 3


def test_sampling_errors_say_what_to_do() -> None:
    single = datasets.from_records(
        [{"id": n, "input": n, "subject": "math"} for n in range(5)], name="one-subject"
    )
    with pytest.raises(DatasetError, match=r"single value \(\"math\"\).*two or more values"):
        _ = single.sample(2, stratify="subject").items
    with pytest.raises(DatasetError, match=r"cannot stratify by 'topic'.*\['subject'\]"):
        _ = single.sample(2, stratify="topic").items
    with pytest.raises(DatasetError, match=r"folds\(k=1\) needs an integer k >= 2"):
        single.folds(1)
    with pytest.raises(DatasetError, match=r"folds\(6\) needs at least 6 items, it has 5"):
        _ = single.folds(6)[0].test.items
    with pytest.raises(DatasetError, match=r"filter\(3\) needs a function"):
        single.filter(3)  # type: ignore[arg-type]
    with pytest.raises(DatasetError, match=r"one-subject \| filter\(nothing\) has no items"):
        _ = single.filter(lambda i: False, name="nothing").items
