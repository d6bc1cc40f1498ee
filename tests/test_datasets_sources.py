"""Dataset sources read through the child process: Parquet files, `datasets` save_to_disk
folders (one split and a DatasetDict), a hub cache laid out like the real one; field
mappings; the on-disk cache; and the errors each source gives for bad input."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pytest_crucible import DatasetError, datasets

ROWS = [
    {"qid": "q1", "question": "2+2", "choices": ["3", "4"], "answer": "4", "subject": "math"},
    {"qid": "q2", "question": "Capital of Peru", "choices": ["Lima"], "answer": "Lima",
     "subject": "geo"},
    {"qid": "q3", "question": "3*3", "choices": ["9"], "answer": "9", "subject": "math"},
]  # fmt: skip


@pytest.fixture(autouse=True)
def row_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "row-cache"
    monkeypatch.setenv("CRUCIBLE_DATASET_CACHE", str(cache))
    return cache


def _write_parquet(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_parquet_with_a_full_field_mapping(tmp_path: Path) -> None:
    data = datasets.parquet(
        _write_parquet(tmp_path / "mmlu.parquet", ROWS),
        id="qid",
        input=["question", "choices"],
        expected="answer",
        cluster="subject",
        metadata={"topic": "subject"},
    )
    first = data.items[0]
    assert first.id == "q1"
    assert [i.cluster for i in data.items] == ["math", "geo", "math"]
    assert first.input == {"question": "2+2", "choices": ["3", "4"]}
    assert first.expected == "4" and first.metadata == {"topic": "math"}
    assert [i.id for i in data.items] == ["q1", "q2", "q3"]
    # a list of metadata fields keeps those alone; without metadata= every unused field is kept
    listed = datasets.parquet(tmp_path / "mmlu.parquet", id="qid", metadata=["subject"])
    assert listed.items[1].metadata == {"subject": "geo"}
    unlisted = datasets.parquet(tmp_path / "mmlu.parquet", id="qid", input="question")
    assert unlisted.items[1].metadata == {"choices": ["Lima"], "answer": "Lima", "subject": "geo"}


def test_values_json_cannot_hold_become_json_safe(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b"],
            "blob": [b"text", b"\xff\x00"],
            "when": [dt.datetime(2024, 5, 1, 12, 30), dt.datetime(2025, 1, 2)],
            "score": [1.5, float("nan")],
        }
    )
    pq.write_table(table, tmp_path / "odd.parquet")
    items = datasets.parquet(tmp_path / "odd.parquet", input="blob").items
    assert [i.input for i in items] == ["text", "base64:/wA="]
    assert items[0].metadata == {"when": "2024-05-01T12:30:00", "score": 1.5}
    assert items[1].metadata["score"] is None
    json.dumps([i.to_dict() for i in items], allow_nan=False)  # every value is plain JSON


def test_rows_are_cached_by_path_size_and_mtime(tmp_path: Path, row_cache: Path) -> None:
    path = _write_parquet(tmp_path / "d.parquet", ROWS)
    assert len(datasets.parquet(path, id="qid").items) == 3
    (cached,) = row_cache.glob("*.jsonl")
    # a second load reads the cache: prove it by editing the cached rows
    cached.write_text(cached.read_text().replace('"2+2"', '"from the cache"'))
    again = datasets.parquet(path, id="qid", input="question")
    assert again.items[0].input == "from the cache"
    # rewriting the file changes its size and mtime: the child converts it again
    _write_parquet(path, ROWS[:2])
    assert [i.id for i in datasets.parquet(path, id="qid").items] == ["q1", "q2"]
    assert len(list(row_cache.glob("*.jsonl"))) == 2


def test_a_loader_waits_for_the_process_converting_the_same_file(
    tmp_path: Path, row_cache: Path
) -> None:
    """While another process holds the cache entry's lock, a loader waits, then reads the rows
    that process cached instead of converting the file again."""
    path = _write_parquet(tmp_path / "d.parquet", ROWS)
    _ = datasets.parquet(path, id="qid").items  # learn the cache entry's name
    (entry,) = row_cache.glob("*.jsonl")
    entry.unlink()
    loaded: list[list[str]] = []
    finished = threading.Event()

    def load() -> None:
        loaded.append([i.id for i in datasets.parquet(path, id="qid").items])
        finished.set()

    with entry.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # as a converting xdist worker would
        loader = threading.Thread(target=load)
        loader.start()
        assert not finished.is_set()  # it cannot finish without the lock or the rows
        partial = entry.with_suffix(".partial")  # renamed into place, as the loader does
        partial.write_text('{"qid": "from the other process"}\n')
        os.replace(partial, entry)
        fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
    loader.join(timeout=120)
    assert loaded == [["from the other process"]]


def test_save_to_disk_dataset_and_dataset_dict(tmp_path: Path) -> None:
    import datasets as hf  # the `datasets` library (a dev dependency), not ours

    hf.Dataset.from_list(ROWS).save_to_disk(str(tmp_path / "single"))
    single = datasets.huggingface(
        tmp_path / "single", id="qid", expected="answer", cluster="subject", metadata=["choices"]
    )
    assert [(i.id, i.expected) for i in single.items] == [("q1", "4"), ("q2", "Lima"), ("q3", "9")]
    # no input field: the input is the record less its expected and cluster fields (a mapped
    # id field stays: it may be content, as a country is; docs/datasets.md)
    assert [(i.cluster, i.input) for i in single.items][:2] == [
        ("math", {"qid": "q1", "question": "2+2", "choices": ["3", "4"]}),
        ("geo", {"qid": "q2", "question": "Capital of Peru", "choices": ["Lima"]}),
    ]
    assert single.items[1].metadata == {"choices": ["Lima"]}
    hf.DatasetDict(
        {"train": hf.Dataset.from_list(ROWS[:1]), "test": hf.Dataset.from_list(ROWS[1:])}
    ).save_to_disk(str(tmp_path / "dict"))
    test = datasets.huggingface(tmp_path / "dict", id="qid")
    train = datasets.huggingface(tmp_path / "dict", split="train", id="qid")
    assert [i.id for i in test.items] == ["q2", "q3"] and [i.id for i in train.items] == ["q1"]
    assert test.name.endswith("[test]")
    with pytest.raises(
        DatasetError, match=r"no split 'validation'; its splits are \['train', 'test'\]"
    ):
        _ = datasets.huggingface(tmp_path / "dict", split="validation").items


def _fake_hub(home: Path, name: str, files: dict[str, list[dict[str, object]]]) -> Path:
    repo = home / "hub" / ("datasets--" + name.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    for relative, rows in files.items():
        _write_parquet(snapshot / relative, rows)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    return snapshot


def test_hub_cache_by_name_config_and_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    _fake_hub(
        tmp_path / "hf",
        "openai/gsm8k",
        {
            "main/test-00000-of-00001.parquet": ROWS[:2],
            "main/train-00000-of-00001.parquet": ROWS[2:],
            "socratic/test-00000-of-00001.parquet": ROWS[:1],
        },
    )
    main = datasets.huggingface("openai/gsm8k", config="main", id="qid")
    assert [i.id for i in main.items] == ["q1", "q2"]
    train = datasets.huggingface("openai/gsm8k", "train", "main", id="qid")
    assert [i.id for i in train.items] == ["q3"]
    with pytest.raises(DatasetError, match=r"several configs \['main', 'socratic'\]"):
        _ = datasets.huggingface("openai/gsm8k").items
    with pytest.raises(DatasetError, match=r"no split 'dev'; its splits are \['test', 'train'\]"):
        _ = datasets.huggingface("openai/gsm8k", "dev", "main").items
    shards = {
        "data/test-00000-of-00002.parquet": ROWS[:1],
        "data/test-00001-of-00002.parquet": ROWS[1:],
    }
    _fake_hub(tmp_path / "hf", "org/plain", shards)
    assert len(datasets.huggingface("org/plain", id="qid").items) == 3
    with pytest.raises(DatasetError, match=r"not in the Hugging Face hub cache.*never downloads"):
        _ = datasets.huggingface("org/absent").items


def test_source_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"missing\.parquet does not exist.*check the path"):
        _ = datasets.parquet(tmp_path / "missing.parquet").items
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DatasetError, match=r"not readable Parquet.*broken\.parquet"):
        _ = datasets.parquet(tmp_path / "broken.parquet").items
    path = _write_parquet(tmp_path / "d.parquet", ROWS)
    with pytest.raises(DatasetError) as missing_field:
        _ = datasets.parquet(path, expected="gold").items
    message = str(missing_field.value)
    assert "expected field 'gold'" in message and str(path) in message
    assert "['answer', 'choices', 'qid', 'question', 'subject']" in message
    with pytest.raises(DatasetError, match="metadata field 'level'"):
        _ = datasets.jsonl(_jsonl(tmp_path, ROWS), id="qid", metadata=["level"]).items
    with pytest.raises(DatasetError, match=r"input=\[\] must be a field name"):
        datasets.jsonl(tmp_path / "x.jsonl", input=[])
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n{"id": 2,\n')
    with pytest.raises(DatasetError, match=r"bad\.jsonl, line 2: not valid JSON"):
        _ = datasets.jsonl(tmp_path / "bad.jsonl").items


def _jsonl(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_missing_pyarrow_names_the_extra(tmp_path: Path) -> None:
    """In a Python where pyarrow cannot be imported, the error names the pip extra."""
    path = _write_parquet(tmp_path / "d.parquet", ROWS)
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "pyarrow.py").write_text("raise ImportError('pyarrow is blocked here')\n")
    script = (
        "import sys\n"
        "from pytest_crucible import DatasetError, datasets\n"
        "try:\n"
        f"    datasets.parquet({str(path)!r}).items\n"
        "except DatasetError as exc:\n"
        "    print(exc)\n"
        "print('numpy' in sys.modules)\n"
    )
    env = {"PYTHONPATH": str(blocker), "CRUCIBLE_DATASET_CACHE": str(tmp_path / "c")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=True,
    )
    message, numpy_loaded = done.stdout.strip().splitlines()
    assert "pip install 'pytest-crucible[parquet]'" in message
    assert numpy_loaded == "False"
