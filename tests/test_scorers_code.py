"""extract_code on the shapes of model answers, humaneval_check on good and bad input, and
humaneval_result declared for a metric."""

from __future__ import annotations

import pytest

import pytest_crucible as crucible
from pytest_crucible import scorers
from pytest_crucible.benchmarks import humaneval
from pytest_crucible.errors import ScorerError
from pytest_crucible.run.trial import Trial
from pytest_crucible.scorers import extract_code, humaneval_check

ADD = "def add(a, b):\n    return a + b\n"


@pytest.mark.parametrize(
    "answer",
    [
        f"```python\n{ADD}```",
        f"Here is the function:\n\n```python\n{ADD}```\n\nIt adds the two numbers.",
        f"```\n{ADD}```",
        f"```py title=add.py\n{ADD}```",
        f"Sure! Here it is:\n{ADD}\nThis returns the sum of a and b.",
        ADD,
    ],
    ids=["fenced", "prose-around-fence", "bare-fence", "fence-with-info", "prose-no-fence", "code"],
)
def test_the_code_is_taken_out_of_the_answer(answer: str) -> None:
    assert extract_code(answer, entry_point="add") == ADD


def test_the_block_that_defines_the_entry_point_is_chosen() -> None:
    answer = (
        "Usage:\n```python\nprint(add(1, 2))\n```\nThe function:\n"
        f"```python\nimport math\n\n{ADD}```\n"
    )
    assert extract_code(answer, entry_point="add") == f"import math\n\n{ADD}"
    assert extract_code(answer) == "print(add(1, 2))\n"  # no entry point: the first block


def test_a_block_cut_off_by_the_token_limit_counts_to_its_end() -> None:
    assert extract_code(f"```python\n{ADD}") == ADD


def test_imports_above_the_entry_point_are_kept_and_prose_below_dropped() -> None:
    answer = f"I will use math.\nimport math\n{ADD}\nThat is all.\nHope it helps!"
    assert extract_code(answer, entry_point="add") == f"import math\n{ADD}"


def test_an_indented_body_as_a_completion_is_kept() -> None:
    body = "    total = a + b\n    return total\n"
    assert extract_code(body + "\nThis completes the function.") == body


def test_an_answer_without_code_is_returned_stripped() -> None:
    assert extract_code("  I do not know.  ") == "I do not know.\n"
    assert extract_code("") == ""


def test_an_answer_that_is_not_text_is_a_clear_error() -> None:
    with pytest.raises(ScorerError, match="takes the model's answer as a str"):
        extract_code(None)  # type: ignore[arg-type]


def test_humaneval_check_takes_a_record_or_an_item() -> None:
    item = humaneval(sample=1, seed=5).items[0]
    record = {**item.input, **item.expected, "task_id": item.id}
    solution = item.expected["canonical_solution"]
    assert humaneval_check(record, solution).passed
    assert humaneval_check(item, solution).passed
    wrong = humaneval_check(item, "    return None\n")
    assert not wrong.passed and wrong.reason in ("assertion", "exception")


def test_a_model_answer_in_a_fence_passes_once_extracted() -> None:
    item = humaneval().items[2]  # truncate_number
    answer = (
        "Here is my solution:\n```python\ndef truncate_number(number: float) -> float:\n"
        "    return number % 1.0\n```\nIt keeps the decimal part."
    )
    code = extract_code(answer, entry_point=item.input["entry_point"])
    assert humaneval_check(item, code).passed
    assert not humaneval_check(item, answer).passed  # the prose is not Python


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        ({"prompt": "def f():\n"}, "the problem has no test, entry_point"),
        ("HumanEval/0", "takes a HumanEval problem"),
    ],
)
def test_a_problem_without_its_fields_is_a_clear_error(problem: object, words: str) -> None:
    with pytest.raises(ScorerError, match=words):
        humaneval_check(problem, "pass")  # type: ignore[arg-type]


def test_a_declared_humaneval_result_records_passed_and_logs_the_verdict() -> None:
    """`Metric(scorer=scorers.humaneval_result)`: the trial records whether the answer passed
    and keeps the sandbox's verdict (the failing assertion, the output) in its log."""
    experiment = crucible.Experiment(
        "declared-code",
        dataset=humaneval(sample=1, seed=5),
        conditions={"answer": lambda prompt: prompt},
        metrics={"passed": crucible.Metric(kind="binary", scorer=scorers.humaneval_result)},
    )
    plan = experiment.plan()
    trial = Trial(plan.trials[0], plan)
    entry_point = plan.trials[0].item.input["entry_point"]
    trial.note_call(
        f"```python\nprint('checking')\ndef {entry_point}(*args):\n    return None\n```", 0.1
    )
    trial.complete_metrics()
    assert trial.metrics == {"passed": False}
    (entry,) = trial.logs
    assert entry["level"] == "warning", entry
    assert entry["message"].startswith(("assertion failed: assert ", "exception: ")), entry
    assert entry["meta"]["stdout"] == "checking\n" and entry["meta"]["reason"] != "passed"
    missing = Trial(plan.trials[0], plan)  # no output at all: failed, and said why
    missing.complete_metrics()
    assert missing.metrics == {"passed": False}
    assert missing.logs[0]["message"] == "exception: the trial gave no output to run"
