"""While its trials run, a session's garbage collector starts full collections 10 times
less often (session/heap.py: they walk every collected item again), and the process gets
its own thresholds back when the session ends."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator

import pytest

from pytest_crucible.session.heap import FULL_COLLECTION_EVERY

EXPERIMENT = """
import gc
import json
import os
from pathlib import Path
import pytest_crucible as crucible

exp = crucible.Experiment(
    name="heap",
    dataset=[{"id": f"i{n}", "input": n} for n in range(3)],
    conditions={"same": lambda n: n},
    seed=0,
)

@exp.trial
def test_heap(condition, item, trial):
    with Path(os.environ["CRUCIBLE_THRESHOLDS"]).open("a") as seen:
        seen.write(json.dumps(gc.get_threshold()) + "\\n")
    trial.record(value=condition(item.input))
"""


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def _seen(path: str) -> list[list[int]]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def test_full_collections_are_rarer_while_the_trials_run_and_the_thresholds_come_back(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, thresholds: tuple[int, int, int]
) -> None:
    gc.set_threshold(700, 10, 10)  # Python's defaults
    seen = str(pytester.path / "thresholds.jsonl")
    monkeypatch.setenv("CRUCIBLE_THRESHOLDS", seen)
    pytester.makepyfile(test_heap=EXPERIMENT)
    pytester.runpytest("--crucible", "--crucible-report=none").assert_outcomes(passed=3)
    assert _seen(seen) == [[700, 10, FULL_COLLECTION_EVERY]] * 3
    assert gc.get_threshold() == (700, 10, 10)


def test_a_process_that_collects_less_often_already_keeps_its_thresholds(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, thresholds: tuple[int, int, int]
) -> None:
    gc.set_threshold(5000, 20, 500)
    seen = str(pytester.path / "thresholds.jsonl")
    monkeypatch.setenv("CRUCIBLE_THRESHOLDS", seen)
    pytester.makepyfile(test_heap=EXPERIMENT)
    pytester.runpytest("--crucible", "--crucible-report=none").assert_outcomes(passed=3)
    assert _seen(seen) == [[5000, 20, 500]] * 3
    assert gc.get_threshold() == (5000, 20, 500)


def test_a_session_without_crucible_leaves_the_collector_alone(
    pytester: pytest.Pytester, thresholds: tuple[int, int, int]
) -> None:
    gc.set_threshold(700, 10, 10)
    pytester.makepyfile(
        test_plain="import gc\n\ndef test_one():\n    assert gc.get_threshold() == (700, 10, 10)\n"
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert gc.get_threshold() == (700, 10, 10)
