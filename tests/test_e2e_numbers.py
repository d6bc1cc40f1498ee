"""End to end: the numbers a run prints (intervals, their methods, the correction family)."""

from __future__ import annotations

import json
import re

import pytest

from e2e_support import XDIST, query

# 4 items x 3 repeats of a pass/fail metric; which repeats pass is fixed per item
SMALL = """
import pytest_crucible as crucible

PASSES = {
    "terse": {"a": (1, 1, 0), "b": (1, 0, 1), "c": (0, 0, 0), "d": (1, 1, 1)},
    "few_shot": {"a": (1, 1, 1), "b": (1, 1, 1), "c": (0, 0, 1), "d": (1, 1, 1)},
}

small = crucible.Experiment(
    name="small",
    dataset=[{"id": i, "input": i, "expected": i} for i in "abcd"],
    conditions={"terse": lambda text: text, "few_shot": lambda text: text},
    baseline="terse",
    metrics={"correct": crucible.Metric(kind="binary")},
    repeat=3,
    seed=1,
)

@small.trial
def test_small(condition, item, trial):
    trial.record(correct=bool(PASSES[trial.condition][item.id][trial.spec.repeat]))
"""

INTERVAL = re.compile(r"\[(-?\d+\.\d+), (-?\d+\.\d+)\]")


def test_a_proportion_with_repeats_prints_intervals_inside_0_and_1(
    pytester: pytest.Pytester,
) -> None:
    # before: "terse  12  12  0  0.583 [-0.084, 1.251]" and "few_shot ... 0.833 [0.303, 1.364]"
    pytester.makepyfile(test_small=SMALL)
    result = pytester.runpytest("--crucible", "-p", "no:randomly")
    result.assert_outcomes(passed=24)
    text = result.stdout.str()
    rows = [line for line in text.splitlines() if re.match(r"\s*(terse|few_shot)\s+\d", line)]
    bounds = [float(v) for line in rows for pair in INTERVAL.findall(line) for v in pair]
    assert len(bounds) >= 8, text  # both conditions, in the results table and the analysis
    assert all(0 <= bound <= 1 for bound in bounds), rows
    assert "0.583 [0.151, 0.917]" in text
    assert "CI of correct: 95%, Wilson score interval on the effective number of items" in text


@pytest.mark.parametrize("xdist", XDIST)
def test_analysis_family_is_stored_with_the_run_and_stated_in_the_table(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    source = SMALL.replace(
        '    metrics={"correct": crucible.Metric(kind="binary")},',
        '    metrics={"correct": crucible.Metric(kind="binary"), "length": crucible.Metric()},\n'
        '    analysis=crucible.Analysis(family="metric"),',
    ).replace(
        "trial.record(correct=", "trial.record(length=len(item.id) + trial.spec.repeat, correct="
    )
    pytester.makepyfile(test_small=source)
    result = pytester.runpytest("--crucible", "-p", "no:randomly", *xdist)
    result.assert_outcomes(passed=24)
    result.stdout.fnmatch_lines(
        [
            "crucible analysis: 2 conditions, 4 items, vs terse, paired on items; p-values "
            "Holm-adjusted within each metric (comparisons per family: correct: 1, length: 1); "
            "comparison intervals unadjusted; alpha 0.05",
            "*comparison*unadjusted 95% CI*p_adj*test; interval",
        ]
    )
    (run,) = query(pytester, "SELECT header, analysis FROM runs")
    assert json.loads(run["header"])["analysis"]["family"] == "metric"
    assert json.loads(run["analysis"])["settings"]["family"] == "metric"
