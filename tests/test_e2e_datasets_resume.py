"""End to end: a filtered, stratified sample and a fold are the same items when a stopped run
is resumed in another process (another PYTHONHASHSEED), so the resumed run reuses what was
stored and runs the rest: every planned trial stored once, over the items drawn here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e_support import query, trial_rows
from pytest_crucible import datasets

_TIMEOUT_S = 300  # whole pytest sessions with an analysis child, on a busy machine
_EXPERIMENT = """
import os
import pytest_crucible as crucible

def hard(item):
    return item.metadata["level"] > 1

data = crucible.datasets.jsonl("questions.jsonl", metadata=["subject", "level"])
sampled = data.filter(hard, name="hard").sample(6, stratify="subject", seed=7)
_, fold = data.folds(3, seed=5)[1]

def echo(text):
    return text

for name, dataset in (("sampled", sampled), ("fold", fold)):
    experiment = crucible.Experiment(
        name=name, dataset=dataset, conditions={"echo": echo}, metrics=["ok"], seed=1
    )

    @experiment.trial
    def trial_function(condition, item, trial):
        # the first session stops at this item (-x): the rest is left for the resume
        assert item.id != os.environ.get("STOP_AT"), "stopped here on purpose"
        trial.record(ok=condition(item.input) == item.input)

    globals()[f"test_{name}"] = trial_function
"""


def _rows() -> list[dict[str, object]]:
    subjects = ("math", "history", "physics")
    return [
        {"id": f"q{n:02d}", "input": f"question {n}", "subject": subjects[n % 3],
         "level": 1 + n % 4}
        for n in range(40)
    ]  # fmt: skip


def _drawn(path: Path) -> tuple[list[str], list[str]]:
    """The items each experiment must run, drawn in this process (its own hash seed)."""
    data = datasets.jsonl(path, metadata=["subject", "level"])
    sampled = data.filter(lambda i: i.metadata["level"] > 1).sample(6, stratify="subject", seed=7)
    _, fold = data.folds(3, seed=5)[1]
    return [i.id for i in sampled.items], [i.id for i in fold.items]


def test_a_resumed_run_draws_the_same_sample_and_fold(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = pytester.path / "questions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in _rows()))
    sampled, fold = _drawn(path)
    assert len(sampled) == 6 and len(fold) >= 13
    pytester.makepyfile(test_resume=_EXPERIMENT)
    common = ("--crucible", "--crucible-report=none", "-p", "no:cacheprovider", "-p", "no:randomly")

    monkeypatch.setenv("PYTHONHASHSEED", "1")
    monkeypatch.setenv("STOP_AT", sampled[3])
    stopped = pytester.runpytest_subprocess(*common, "-x", timeout=_TIMEOUT_S)
    stopped.assert_outcomes(passed=3, failed=1)  # the sampled experiment's first 3 items
    assert [r["status"] for r in query(pytester, "SELECT status FROM runs")] == ["interrupted"]

    monkeypatch.setenv("PYTHONHASHSEED", "2")
    monkeypatch.delenv("STOP_AT")
    resumed = pytester.runpytest_subprocess(*common, "--crucible-resume", timeout=_TIMEOUT_S)
    resumed.assert_outcomes(passed=len(sampled) - 3 + len(fold))
    resumed.stdout.fnmatch_lines(["*3 reused from the resumed run*"])

    rows = trial_rows(pytester)
    by_run: dict[str, list[str]] = {}
    for row in rows:
        assert row["status"] == "passed", row
        by_run.setdefault(str(row["run_id"]), []).append(str(row["item_id"]))
    headers = {
        json.loads(r["header"])["name"]: (r["run_id"], json.loads(r["header"]))
        for r in query(pytester, "SELECT run_id, header FROM runs")
    }
    sampled_run, sampled_header = headers["sampled"]
    fold_run, fold_header = headers["fold"]
    # every planned trial is stored once, over exactly the items drawn in this process
    assert sorted(by_run[sampled_run]) == sorted(sampled)
    assert sorted(by_run[fold_run]) == sorted(fold)
    assert list(sampled_header["dataset_items"]) == sampled
    assert list(fold_header["dataset_items"]) == fold
