"""End to end: the built-in benchmarks with their recommended scorers, declared as metric
scorers (`Metric(scorer=benchmark(NAME).scorer)`), on files in the official formats."""

from __future__ import annotations

import json

import pytest

from benchmark_files import GSM8K, MMLU, write_gsm8k_release, write_mmlu_release
from e2e_support import query, trial_rows
from pytest_crucible import benchmarks

EXPERIMENT = """
from pathlib import Path
import pytest_crucible as crucible
from pytest_crucible import benchmarks

HERE = Path(__file__).parent
MMLU = benchmarks.benchmark("mmlu")
GSM8K = benchmarks.benchmark("gsm8k")

def answers_a(prompt):
    return "Let me think. The answer is (A)."

def answers_b(prompt):
    return "**B**"

mmlu = crucible.Experiment(
    name="mmlu-scored",
    dataset=MMLU.load(HERE / "mmlu"),
    conditions={"a": answers_a, "b": answers_b},
    metrics={"correct": crucible.Metric(kind="binary", scorer=MMLU.scorer)},
)

@mmlu.trial
def test_mmlu(condition, item, trial):
    condition(benchmarks.format_mmlu_prompt(item))

def reads_the_reference(question):
    return "I worked it out: 7 apples, so the answer is 7."

gsm8k = crucible.Experiment(
    name="gsm8k-scored",
    dataset=GSM8K.load(HERE / "gsm8k"),
    conditions={"seven": reads_the_reference},
    metrics={"correct": crucible.Metric(kind="binary", scorer=GSM8K.scorer)},
)

@gsm8k.trial
def test_gsm8k(condition, item, trial):
    condition(item.input)
"""


def test_recommended_scorers_score_model_answers_in_their_usual_forms(
    pytester: pytest.Pytester,
) -> None:
    write_mmlu_release(pytester.path / "mmlu")
    write_gsm8k_release(pytester.path / "gsm8k")
    pytester.makepyfile(test_scored=EXPERIMENT)
    result = pytester.runpytest_subprocess("--crucible", "--crucible-report=none", timeout=300)
    mmlu_size = sum(len(splits["test"]) for splits in MMLU.values())
    result.assert_outcomes(passed=2 * mmlu_size + len(GSM8K["test"]))
    rows = trial_rows(pytester)
    letters = {item.id: item.expected for item in benchmarks.mmlu(pytester.path / "mmlu").items}
    mmlu_rows = [r for r in rows if r["item_id"] in letters]
    assert len(mmlu_rows) == 2 * mmlu_size
    for row in mmlu_rows:
        assert row["metrics"]["correct"] == (letters[row["item_id"]] == row["condition"].upper())
    # "the answer is 7" is right for the first GSM8K problem only (7; 2,000; 4.5)
    problems = [item.id for item in benchmarks.gsm8k(pytester.path / "gsm8k").items]
    by_id = {r["item_id"]: r["metrics"]["correct"] for r in rows if r["item_id"] in problems}
    assert [by_id[i] for i in problems] == [True, False, False]


HUMANEVAL = """
import pytest_crucible as crucible
from pytest_crucible import benchmarks, scorers

HUMANEVAL = benchmarks.benchmark("humaneval")

def explains_the_solution(item):
    body = item.expected["canonical_solution"]
    return "Here is my solution:\\n```python\\n" + item.input["prompt"] + body + "```\\nDone."

def gives_up(item):
    return "I do not know."

humaneval = crucible.Experiment(
    name="humaneval-scored",
    dataset=HUMANEVAL.load(sample=4, seed=3),
    conditions={"solves": explains_the_solution, "gives_up": gives_up},
    metrics={"passed": crucible.Metric(kind="binary", scorer=HUMANEVAL.scorer)},
)

@humaneval.trial
def test_humaneval(condition, item, trial):
    condition(item)
"""


def test_humaneval_answers_in_prose_are_extracted_run_and_scored(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_scored=HUMANEVAL)
    result = pytester.runpytest_subprocess("--crucible", "--crucible-report=none", timeout=300)
    result.assert_outcomes(passed=8)
    scores = {(r["condition"], r["item_id"]): r["metrics"]["passed"] for r in trial_rows(pytester)}
    assert len(scores) == 8
    assert all(passed == (condition == "solves") for (condition, _), passed in scores.items())
    # the declared scorer keeps each verdict in its trial's log: why it passed or failed
    logs = query(pytester, "SELECT condition, level, message, meta FROM logs")
    assert len(logs) == 8
    for log in logs:
        meta = json.loads(log["meta"])
        if log["condition"] == "solves":
            assert (log["level"], log["message"], meta["reason"]) == (
                "info",
                "the program passed",
                "passed",
            )
        else:  # "I do not know." after the prompt is not Python
            assert log["level"] == "warning" and meta["reason"] == "syntax", log
            assert log["message"].startswith("syntax: invalid syntax (line "), log
