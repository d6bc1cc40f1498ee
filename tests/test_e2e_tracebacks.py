"""A user's error shows the user's frames and the message, never our library's source lines:
not in pytest's output, not in the traceback the store keeps (and reports show)."""

from __future__ import annotations

import pytest

from e2e_support import XDIST, trial_rows

# One trial per kind of bad input, in a sync and an async condition.
BAD_TRIALS = """
import asyncio, math
import pytest_crucible as crucible

def terse(text):
    if text == "boom":
        raise ValueError(f"no answer for {text}")
    return text

async def eager(text):
    await asyncio.sleep(0)
    if text == "boom":
        raise ValueError(f"no answer for {text}")
    return text

bad = crucible.Experiment(
    name="bad",
    dataset=[{"id": kind, "input": kind} for kind in ("string", "nan", "other", "boom", "ok")],
    conditions={"terse": terse, "eager": eager},
    metrics=["score"],
)

@bad.trial
async def test_bad(condition, item, trial):
    answer = await condition(item.input)
    if answer == "string":
        trial.record(score="abc")
    elif answer == "nan":
        trial.record(score=math.nan)
    elif answer == "other":
        trial.record(other=1)
    else:
        trial.record(score=1)
"""

# what each failed trial's message says, and the user's line its traceback must show
EXPECTED = {
    "string": ("is not a number or a bool", 'trial.record(score="abc")'),
    "nan": ("score", "trial.record(score=math.nan)"),
    "other": ("'other' is not declared", "trial.record(other=1)"),
    "boom": ("no answer for boom", 'raise ValueError(f"no answer for {text}")'),
}
LIBRARY = "pytest_crucible/"  # a path into our package (module names have dots)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--crucible", "--crucible-report=none", *args)


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("concurrency", ["1", "8"])
def test_bad_trials_show_the_users_frames_only(
    pytester: pytest.Pytester, concurrency: str, xdist: list[str]
) -> None:
    pytester.makepyfile(test_bad=BAD_TRIALS)
    result = _run(pytester, "--crucible-concurrency", concurrency, *xdist)
    result.assert_outcomes(passed=2, failed=8)
    output = result.stdout.str() + result.stderr.str()
    leaked = [line for line in output.splitlines() if LIBRARY in line]
    assert not leaked, leaked
    for message, line in EXPECTED.values():
        assert message in output and line in output, (message, line)
    failed = [row for row in trial_rows(pytester) if row["status"] == "failed"]
    assert len(failed) == 8
    for row in failed:
        message, line = EXPECTED[row["item_id"]]
        error = row["error"]
        assert message in error["message"], error
        assert LIBRARY not in error["traceback"], error["traceback"]
        assert "test_bad.py" in error["traceback"] and line in error["traceback"], error


BAD_EXPERIMENT = """
import pytest_crucible as crucible

def terse(text):
    return text

bad = crucible.Experiment(
    name="bad",
    dataset=DATASET,
    conditions={"terse": terse},
    metrics=["score"],
    repeat=REPEAT,
)

@bad.trial
def test_bad(condition, item, trial):
    trial.record(score=1)
"""


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize(
    ("dataset", "repeat", "message"),
    [
        ('[{"id": "a", "input": 1}]', "0", "repeat=0 must be an integer >= 1"),
        ('[{"id": "a", "input": 1}, {"id": "a", "input": 2}]', "1", "item ids repeat"),
        ('crucible.datasets.jsonl("nope.jsonl")', "1", "nope.jsonl does not exist"),
    ],
    ids=["argument", "repeated-ids", "missing-file"],
)
def test_a_bad_experiment_shows_the_users_line_only(
    pytester: pytest.Pytester, dataset: str, repeat: str, message: str, xdist: list[str]
) -> None:
    source = BAD_EXPERIMENT.replace("DATASET", dataset).replace("REPEAT", repeat)
    pytester.makepyfile(test_bad=source)
    result = _run(pytester, *xdist)
    output = result.stdout.str() + result.stderr.str()
    # an error at collection: pytest stops (2); xdist reports it as a failure (1)
    expected = pytest.ExitCode.TESTS_FAILED if xdist else pytest.ExitCode.INTERRUPTED
    assert result.ret == expected, output
    assert message in output, output
    leaked = [line for line in output.splitlines() if LIBRARY in line]
    assert not leaked, leaked
