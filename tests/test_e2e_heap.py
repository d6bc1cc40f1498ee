"""While its trials run, a session's garbage collector starts full collections 10 times
less often (session/heap.py: they walk every collected item again), and the process gets
its own thresholds back when the session ends."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from typing import Any

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


def test_full_collections_are_rarer_while_the_items_are_collected(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, thresholds: tuple[int, int, int]
) -> None:
    """From pytest_configure on: the thousands of items a collection makes would otherwise
    start a full collection of everything imported before the first trial."""
    gc.set_threshold(700, 10, 10)
    seen = str(pytester.path / "thresholds.jsonl")
    monkeypatch.setenv("CRUCIBLE_THRESHOLDS", seen)
    at_import = (
        "import gc, json, os\n"
        "with open(os.environ['CRUCIBLE_THRESHOLDS'], 'a') as seen:\n"
        "    seen.write(json.dumps(gc.get_threshold()) + '\\n')\n"
    )
    pytester.makepyfile(test_heap=at_import + EXPERIMENT)
    pytester.runpytest("--crucible", "--crucible-report=none").assert_outcomes(passed=3)
    assert _seen(seen) == [[700, 10, FULL_COLLECTION_EVERY]] * 4  # collected, then 3 trials
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


# Each trial records a weak reference to its Trial; a conftest counts those alive as the
# session finishes, and from then on notes how many objects are frozen at each full
# collection.
TRIAL_REFERENCES = """
import asyncio
import weakref
import pytest_crucible as crucible

REFERENCES = []

exp = crucible.Experiment(
    name="refs",
    dataset=[{"id": f"i{n}", "input": n} for n in range(40)],
    conditions={"same": lambda n: n},
    concurrency=4,
    seed=0,
)

@exp.trial
async def test_refs(condition, item, trial):
    REFERENCES.append(weakref.ref(trial))
    await asyncio.sleep(0.05)  # still running when the prefetcher registers its callback
    trial.record(value=await condition(item.input))
"""

ALIVE_AT_SESSIONFINISH = """
import gc
import json
import os
import pytest

@pytest.hookimpl(wrapper=True)  # before every plain one: the session's collection too
def pytest_sessionfinish(session):
    from test_refs import REFERENCES
    alive = sum(1 for reference in REFERENCES if reference() is not None)
    with open(os.environ["CRUCIBLE_ALIVE"], "w") as out:
        json.dump({"trials": len(REFERENCES), "alive": alive}, out)
    result = yield
    gc.callbacks.append(note_full_collection)
    return result

FROZEN_AT_FULL_COLLECTIONS = []

def note_full_collection(phase, info):
    if phase == "start" and info["generation"] == 2:
        FROZEN_AT_FULL_COLLECTIONS.append(gc.get_freeze_count())

def pytest_configure(config):
    config.add_cleanup(write_frozen)  # the first cleanup registered: the last one to run

def write_frozen():
    gc.callbacks.remove(note_full_collection)
    with open(os.environ["CRUCIBLE_FROZEN"], "w") as out:
        json.dump({"collections": FROZEN_AT_FULL_COLLECTIONS, "after": gc.get_freeze_count()}, out)
"""


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The automatic collector off: what is freed is freed by reference counting."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_finished_trial_is_freed_without_the_collector(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, collector_off: None
) -> None:
    """A trial started ahead leaves no reference cycle behind (the callback that journals
    it once held the `Started` that holds its future): 3,000 trials' objects were garbage
    that only a full collection could free, 0.2 s of it at the session end."""
    alive = pytester.path / "alive.json"
    monkeypatch.setenv("CRUCIBLE_ALIVE", str(alive))
    monkeypatch.setenv("CRUCIBLE_FROZEN", str(pytester.path / "frozen.txt"))
    pytester.makepyfile(test_refs=TRIAL_REFERENCES)
    pytester.makeconftest(ALIVE_AT_SESSIONFINISH)
    pytester.runpytest("--crucible", "--crucible-report=none").assert_outcomes(passed=40)
    seen = json.loads(alive.read_text())
    assert seen["trials"] == 40
    assert seen["alive"] <= 1, seen  # the last item's may still be on its way out


def _frozen_at_the_end(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *options: str
) -> dict[str, Any]:
    """The 40-trial run in a process of its own (pytest skips its last collections in an
    in-process run): objects frozen at each full collection from the session's finish on,
    and after the config's cleanup."""
    frozen = pytester.path / "frozen.json"
    monkeypatch.setenv("CRUCIBLE_ALIVE", str(pytester.path / "alive.json"))
    monkeypatch.setenv("CRUCIBLE_FROZEN", str(frozen))
    pytester.makepyfile(test_refs=TRIAL_REFERENCES)
    pytester.makeconftest(ALIVE_AT_SESSIONFINISH)
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", *options
    )
    result.assert_outcomes(passed=40)
    seen: dict[str, Any] = json.loads(frozen.read_text())
    return seen


def test_the_heap_is_frozen_while_the_trials_run_and_thawed_after_pytests_collections(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What was alive as the trials started (modules, items, fixtures) stays frozen to the
    end: our collection at unconfigure, and pytest's two after it, skip it; the heap is
    thawed after them."""
    seen = _frozen_at_the_end(pytester, monkeypatch, "-p", "no:hypothesispytest")
    *_, ours, at_unconfigure, at_cleanup = seen["collections"]
    assert ours > 10_000  # frozen since the trials started
    assert at_unconfigure >= ours  # and what our collection left, frozen after it
    assert at_cleanup > 10_000
    assert seen["after"] == 0


def test_the_heap_is_thawed_before_hypothesiss_plugin_imports_hypothesis(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With hypothesis's pytest plugin, which imports hypothesis in the terminal summary,
    the heap is thawed before it: our collection at unconfigure walks everything, then
    freezes it for pytest's two."""
    seen = _frozen_at_the_end(pytester, monkeypatch)  # hypothesis's plugin is installed
    *_, ours, at_unconfigure, at_cleanup = seen["collections"]
    assert ours == 0
    assert at_unconfigure > 10_000
    assert at_cleanup > 10_000
    assert seen["after"] == 0


def test_hypothesis_imported_at_the_terminal_summary_finds_trios_random_generator(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hypothesis's plugin imports hypothesis in the terminal summary; trio's hypothesis
    hook then registers trio's random generator, and hypothesis looks for what refers to it
    with `gc.get_referrers`, which does not see frozen objects: with trio's module still
    frozen, it would warn that the generator could be garbage collected at once."""
    monkeypatch.setenv("CRUCIBLE_THRESHOLDS", str(pytester.path / "thresholds.jsonl"))
    # trio imported at collection: its module is frozen with the rest as the trials start
    pytester.makepyfile(test_heap="import trio\n" + EXPERIMENT)
    pytester.makeconftest(
        "import sys\n\n"
        "def pytest_unconfigure(config):\n"
        "    print('hypothesis imported:', 'hypothesis' in sys.modules)\n"
    )
    result = pytester.runpytest_subprocess("--crucible", "--crucible-report=none", "-W", "error")
    result.assert_outcomes(passed=3)
    output = result.stdout.str() + result.stderr.str()
    assert "hypothesis imported: True" in output  # the case this test is about
    assert "register_random" not in output
    assert result.ret == 0


GARBAGE_FROM_A_TRIAL = """
import os
import pytest_crucible as crucible

class Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        with open(os.environ["CRUCIBLE_FINALISED"], "a") as out:
            out.write("finalised\\n")

exp = crucible.Experiment(
    name="cycle",
    dataset=[{"id": "i0", "input": 0}],
    conditions={"same": lambda n: n},
    seed=0,
)

@exp.trial
def test_cycle(condition, item, trial):
    Cycle()
    trial.record(value=condition(item.input))
"""


def test_garbage_left_by_the_trials_is_finalised_before_the_heap_is_frozen(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, collector_off: None
) -> None:
    """The heap is frozen only after a collection: a reference cycle a trial left behind is
    finalised as the session ends (pytest reports a finaliser's error as before), not kept
    frozen for ever."""
    finalised = pytester.path / "finalised.txt"
    monkeypatch.setenv("CRUCIBLE_FINALISED", str(finalised))
    pytester.makepyfile(test_cycle=GARBAGE_FROM_A_TRIAL)
    pytester.runpytest("--crucible", "--crucible-report=none").assert_outcomes(passed=1)
    assert finalised.read_text() == "finalised\n"
