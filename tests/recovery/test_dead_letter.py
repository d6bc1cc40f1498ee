"""DeadLetterQueue / read_dead_letters: one fsynced JSON line per failed trial."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from pytest_crucible.run.recovery import (
    Attempts,
    DeadLetter,
    DeadLetterQueue,
    DeadLetterWarning,
    ErrorHandling,
    RecoveryError,
    read_dead_letters,
)


def failed_record() -> Attempts:
    attempts = Attempts(ErrorHandling(jitter="none", max_retries=1))
    attempts.failed(TimeoutError("slow"))
    attempts.failed(TimeoutError("slower"))
    return attempts


def letter(repeat: int = 0, item: object = None) -> DeadLetter:
    return DeadLetter.from_record(
        failed_record().record(),
        experiment="capitals",
        run_id="run-1",
        trial_key="k" * 16,
        condition="few_shot",
        item_id="France",
        repeat=repeat,
        item=item if item is not None else {"question": "Capital of France?", "answer": "Paris"},
        error={"type": "TimeoutError", "message": "slower", "where": "condition"},
        timestamp=1_700_000_000.0,
    )


def test_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dead_letters.jsonl"
    with DeadLetterQueue(path) as queue:
        queue.append(letter(0))
        queue.append(letter(1))
        assert queue.written == 2
    back = read_dead_letters(path)
    assert back == [letter(0), letter(1)]
    first = back[0]
    assert first.attempts == 2
    assert first.final_status == "failed_retries_exhausted"
    assert [entry["message"] for entry in first.error_history] == ["slow", "slower"]
    raw = json.loads(path.read_text().splitlines()[0])
    assert raw["version"] == 1
    assert set(raw) >= {
        "experiment",
        "run_id",
        "trial_key",
        "condition",
        "item_id",
        "repeat",
        "item",
        "error_history",
        "attempts",
        "timestamp",
    }


def test_non_json_values_are_stored_as_their_repr(tmp_path: Path) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    item = {"obj": Opaque(), "nan": float("nan"), "bytes": b"\x00", 3: (1, 2), "set": {1}}
    queue = DeadLetterQueue(tmp_path / "dlq.jsonl")
    queue.append(letter(item=item))
    queue.close()
    (back,) = read_dead_letters(tmp_path / "dlq.jsonl")
    assert back.item == {
        "obj": "<Opaque>",
        "nan": "nan",
        "bytes": "b'\\x00'",
        "3": [1, 2],
        "set": "{1}",
    }


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "dlq.jsonl"
    with DeadLetterQueue(path) as queue:
        queue.append(letter(0))
    whole = path.read_text()
    with path.open("a") as handle:
        handle.write(whole[: len(whole) // 2])  # a crash mid-write
    with pytest.warns(DeadLetterWarning, match=r"dlq.jsonl:2: skipped .*torn"):
        back = read_dead_letters(path)
    assert back == [letter(0)]


def test_appending_after_a_torn_line_keeps_new_lines_whole(tmp_path: Path) -> None:
    path = tmp_path / "dlq.jsonl"
    path.write_text(json.dumps(letter(0).to_dict()) + "\n" + '{"experiment": "capi')
    with DeadLetterQueue(path) as queue:
        queue.append(letter(1))
    with pytest.warns(DeadLetterWarning, match=":2:"):
        back = read_dead_letters(path)
    assert back == [letter(0), letter(1)]


def test_lines_that_are_not_objects_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "dlq.jsonl"
    path.write_text('[1, 2]\n\n{"experiment": "e", "repeat": 2, "later_field": 1}\n')
    with pytest.warns(DeadLetterWarning, match=":1: .*not a JSON object"):
        back = read_dead_letters(path)
    assert len(back) == 1 and back[0].experiment == "e" and back[0].repeat == 2


def test_a_missing_file_reads_as_empty(tmp_path: Path) -> None:
    assert read_dead_letters(tmp_path / "none.jsonl") == []


def test_nothing_is_created_until_the_first_letter(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dlq.jsonl"
    DeadLetterQueue(path).close()
    assert not path.exists()


def test_an_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    queue = DeadLetterQueue(blocker / "dlq.jsonl")  # a file where a directory should be
    with pytest.raises(RecoveryError, match=r"cannot open the dead-letter file .*writable"):
        queue.append(letter())


def test_each_line_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    with DeadLetterQueue(tmp_path / "dlq.jsonl") as queue:
        queue.append(letter(0))
        queue.append(letter(1))
    assert len(synced) == 2


def test_concurrent_appends_keep_lines_whole(tmp_path: Path) -> None:
    path = tmp_path / "dlq.jsonl"
    queue = DeadLetterQueue(path)

    def write(start: int) -> None:
        for repeat in range(start, start + 10):
            queue.append(letter(repeat))

    threads = [threading.Thread(target=write, args=(n * 10,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.close()
    back = read_dead_letters(path)
    assert sorted(entry.repeat for entry in back) == list(range(40))
