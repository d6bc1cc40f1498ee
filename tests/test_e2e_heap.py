"""The first session of a process keeps what collection made out of the garbage collector's
full collections (session/heap.py), and the next session in the same process gives it back:
a process that runs pytest many times (an IDE, a notebook calling `pytest.main`) frees each
session's items."""

from __future__ import annotations

import json
import sys

import pytest

EXPERIMENT = """
import gc
import __main__
import pytest_crucible as crucible

exp = crucible.Experiment(
    name="heap",
    dataset=[{"id": f"i{n}", "input": n} for n in range(3)],
    conditions={"same": lambda n: n},
    seed=0,
)

@exp.trial
def test_heap(condition, item, trial):
    __main__.frozen.append(gc.get_freeze_count())
    trial.record(value=condition(item.input))
"""

# One process running pytest three times, as an IDE does: what the collector holds frozen
# during and after each session.
SESSIONS = """
import gc
import json

import pytest

frozen = []


def run(*args):
    code = pytest.main(["-q", "-p", "no:cacheprovider", *args])
    assert code == 0, code
    return gc.get_freeze_count()


after_first = run("--crucible", "--crucible-report=none")
in_first = list(frozen)
after_plain = run()  # plain pytest, no --crucible
after_second = run("--crucible", "--crucible-report=none")
print(json.dumps({
    "in_first": in_first,
    "after_first": after_first,
    "after_plain": after_plain,
    "in_second": frozen[len(in_first):],
    "after_second": after_second,
}))
"""


def test_collected_objects_are_frozen_while_the_trials_run_and_given_back_by_the_next_session(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_heap=EXPERIMENT)
    script = pytester.makepyfile(sessions=SESSIONS)
    result = pytester.run(sys.executable, str(script), timeout=600)
    assert result.ret == 0, result.stderr.str()
    seen = json.loads(result.outlines[-1])
    # each trial ran with what collection made frozen (tens of thousands of objects) ...
    assert len(seen["in_first"]) == 3
    assert min(seen["in_first"]) > 10_000, seen
    # ... and so it stays after the session, until the next one (with --crucible or not)
    # gives it back to the collector
    assert seen["after_first"] > 10_000, seen
    assert seen["after_plain"] == 0, seen
    # a later session does not freeze again (it would freeze the garbage of the earlier ones)
    assert seen["in_second"] == [0, 0, 0], seen
    assert seen["after_second"] == 0, seen
