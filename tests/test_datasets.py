"""Datasets: loaders, ids, sampling, clusters, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_crucible import DatasetError, Item, datasets


def test_records_with_named_fields() -> None:
    data = datasets.from_records(
        [{"q": "1+1", "a": "2", "passage": "p1", "topic": "math"}],
        id="q",
        input="q",
        expected="a",
        cluster="passage",
    )
    (item,) = data.items
    assert item == Item(
        id="1+1", input="1+1", expected="2", metadata={"topic": "math"}, cluster="p1"
    )


def test_input_defaults_to_the_record_without_id_and_expected() -> None:
    (item,) = datasets.from_records([{"id": 3, "x": 1, "y": 2, "expected": 3}]).items
    assert item.id == "3" and item.input == {"x": 1, "y": 2} and item.expected == 3


def test_content_hash_ids_are_stable_and_distinct() -> None:
    records = [{"input": "a"}, {"input": "b"}]
    first = [i.id for i in datasets.from_records(records).items]
    again = [i.id for i in datasets.from_records([dict(r) for r in records]).items]
    assert first == again and len(set(first)) == 2 and all(len(i) == 12 for i in first)


def test_items_pass_through() -> None:
    item = Item("k", "in", "out")
    assert datasets.from_records([item]).items == (item,)


def test_jsonl_and_csv(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text(
        '{"country": "France", "capital": "Paris"}\n\n{"country": "Peru", "capital": "Lima"}\n'
    )
    (tmp_path / "d.csv").write_text("country,capital\nFrance,Paris\nPeru,Lima\n")
    from_jsonl = datasets.jsonl(tmp_path / "d.jsonl", id="country", expected="capital")
    from_csv = datasets.csv(tmp_path / "d.csv", id="country", expected="capital")
    assert [i.id for i in from_jsonl.items] == ["France", "Peru"]
    assert [(i.input, i.expected) for i in from_csv.items] == [
        ({"country": "France"}, "Paris"),
        ({"country": "Peru"}, "Lima"),
    ]
    assert from_jsonl.fingerprint == from_csv.fingerprint  # same content, same fingerprint


def test_callable_is_called_lazily_once() -> None:
    calls = []

    def load() -> list[dict[str, int]]:
        calls.append(1)
        return [{"id": n, "input": n} for n in range(3)]

    data = datasets.from_callable(load)
    assert calls == []
    assert len(data) == 3 and len(data.items) == 3
    assert calls == [1]


def test_sample_is_seeded_deterministic_and_keeps_order() -> None:
    data = datasets.from_records([{"id": n, "input": n} for n in range(100)])
    first = [i.id for i in data.sample(10, seed=1).items]
    assert first == [i.id for i in data.sample(10, seed=1).items]
    assert first != [i.id for i in data.sample(10, seed=2).items]
    assert [int(i) for i in first] == sorted(int(i) for i in first)
    assert len(data.sample(1000).items) == 100


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"item ids repeat.*'a' at records 1, 3"):
        _ = datasets.from_records([{"id": "a"}, {"id": "b"}, {"id": "a"}]).items
    with pytest.raises(DatasetError, match="does not exist"):
        _ = datasets.jsonl(tmp_path / "missing.jsonl").items
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(DatasetError, match="line 2: expected a JSON object"):
        _ = datasets.jsonl(tmp_path / "bad.jsonl").items
    with pytest.raises(
        DatasetError, match=r"id field .key. \(named in the field mapping\) is missing"
    ):
        _ = datasets.from_records([{"id": 1}], id="key").items
    (tmp_path / "bad.csv").write_text("a,b\n1,2,3\n")
    with pytest.raises(DatasetError, match="line 2: more cells than the header"):
        _ = datasets.csv(tmp_path / "bad.csv").items
    with pytest.raises(DatasetError, match="has no items"):
        _ = datasets.from_records([]).items
    with pytest.raises(DatasetError, match="sample=0 must be a positive integer"):
        datasets.from_records([{"id": 1}]).sample(0)
