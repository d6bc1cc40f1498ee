"""The controller's recorder: runs opened from headers, results never lost."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from e2e_support import sql
from pytest_crucible import StoreError
from pytest_crucible.errors import StoreFullError
from pytest_crucible.session.inputs import ResumeTarget
from pytest_crucible.session.payload import TrialPayload
from pytest_crucible.session.recorder import Recorder
from pytest_crucible.store.sqlite import Store
from test_store import HEADER, _result


def _payload(condition: str, item: str, header: dict[str, Any] | None) -> TrialPayload:
    return TrialPayload(_result(condition, item), "gw0", header)


def test_first_result_opens_the_run_and_finish_sets_status(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    recorder = Recorder(store, {}, lambda: {"python": "3"})
    recorder.record(_payload("a", "x", HEADER))
    recorder.record(_payload("b", "x", None))
    (outcome,) = recorder.finish(interrupted=False, crashed=False)
    assert outcome.status == "interrupted"  # 2 of 4 trials stored
    assert outcome.stored == 2 and outcome.ran == {"ax", "bx"}
    assert json.loads(sql(store.path, "SELECT environment FROM runs")[0][0]) == {"python": "3"}


def test_a_ctrl_c_while_the_run_opens_keeps_the_header_for_the_next_result(
    tmp_path: Path,
) -> None:
    """Ctrl-C landing while the first result opens its run (the environment is captured
    then) must not leave the next results headerless: they open the run themselves."""
    interrupts = [KeyboardInterrupt()]

    def environment() -> dict[str, str]:
        if interrupts:
            raise interrupts.pop()
        return {"python": "3"}

    store = Store(tmp_path / "s.db")
    recorder = Recorder(store, {}, environment)
    with pytest.raises(KeyboardInterrupt):
        recorder.record(_payload("a", "x", HEADER))
    recorder.record(_payload("b", "x", None))  # a trial that finished ahead, stopped
    (outcome,) = recorder.finish(interrupted=True, crashed=False)
    assert outcome.stored == 1 and outcome.ran == {"bx"}


def test_a_result_the_store_refuses_goes_to_the_journal_and_is_imported_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "s.db")
    recorder = Recorder(store, {}, dict)
    recorder.record(_payload("a", "x", HEADER))
    recorder.writer.flush()

    def refuse(*args: object) -> None:
        raise StoreError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(recorder.writer.store, "record_trials", refuse)
        patch.setattr(recorder.writer.store, "record_trial", refuse)
        recorder.record(_payload("b", "y", None))
        recorder.writer.flush()
    journalled = [json.loads(line) for line in recorder.journal.path.read_text().splitlines()]
    assert [r["trial"]["key"] for r in journalled if "trial" in r] == ["by"]
    assert "disk full; the result was saved to" in recorder.warnings[0]
    (outcome,) = recorder.finish(interrupted=False, crashed=False)
    assert outcome.stored == 2  # imported at the end, once the store takes it again
    assert not recorder.journal.path.exists()
    assert any("imported 1 finished trial(s)" in w for w in recorder.warnings)


def test_resumed_run_that_ran_nothing_is_finished_with_its_reuse_count(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    run_id = store.create_run(HEADER, {})
    for condition in "ab":
        for item in "xy":
            store.record_trial(run_id, _result(condition, item), "main")
    target = ResumeTarget(run_id, 3, frozenset(store.completed_keys(run_id)))
    recorder = Recorder(store, {"caps": target, "other": target}, dict)
    # only collected experiments are finished; the count of reused trials is the session's
    (outcome,) = recorder.finish(interrupted=False, crashed=False, collected={"caps": 4})
    assert (outcome.status, outcome.reused, outcome.resumed) == ("completed", 4, True)
    assert store.run(run_id).sessions == 2  # a session that ran nothing still counts


def test_the_writer_survives_a_full_disk_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Store and journal both refuse (a full disk): the writer thread lives on, flush
    returns, `store_full` says why, and a later result is handled too."""
    store = Store(tmp_path / "s.db")
    recorder = Recorder(store, {}, dict)

    def refuse(*args: object) -> None:
        raise StoreFullError("cannot write to the store: the disk is full")

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recorder.writer.store, "record_trials", refuse)
    monkeypatch.setattr(recorder.writer.store, "record_trial", refuse)
    monkeypatch.setattr(recorder.journal, "append", no_space)
    recorder.record(_payload("a", "x", HEADER))
    _flush_within(recorder, 30)
    recorder.record(_payload("b", "x", None))
    _flush_within(recorder, 30)
    assert "the disk is full" in str(recorder.store_full)
    assert "a-x-r0 is lost" in recorder.warnings[0] and "No space left" in recorder.warnings[0]
    recorder.writer.close()
    assert "in all 2 results could be saved neither" in recorder.warnings[-1]


def _flush_within(recorder: Recorder, seconds: float) -> None:
    flushing = threading.Thread(target=recorder.writer.flush, daemon=True)
    flushing.start()
    flushing.join(seconds)
    assert not flushing.is_alive(), "flush waits for a writer that will never answer"
